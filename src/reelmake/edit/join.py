"""Joining intermediates: xfade/acrossfade for runs joined by transitions, stream copy for hard cuts.

Only the clips a transition touches are re-encoded (as one cached piece per run); the pieces are
then joined by the concat demuxer without re-encoding anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..fsutil import atomic_path, atomic_write_text
from ..media import run_ffmpeg
from .encode import Encoding, intermediate_audio_args, samples_for_frames
from .timeline import xfade_name


@dataclass(frozen=True)
class Piece:
    """One intermediate to join: its file, cache key, frame count and the transition into it."""

    path: Path
    key: str
    frames: int
    transition: str | None = None  # xfade name; None for the first clip of a run
    transition_frames: int = 0


def join_run(pieces: list[Piece], enc: Encoding, work_dir: Path) -> tuple[Path, bool]:
    """Cross-fade a run of intermediates into one cached piece; True when it was encoded now."""
    if len(pieces) == 1:
        return pieces[0].path, False
    key = enc.key("run", [(p.key, p.frames, p.transition, p.transition_frames) for p in pieces])
    dest = work_dir / "runs" / f"{key}.mov"
    if dest.exists():
        return dest, False
    args: list[str] = []
    for piece in pieces:
        args += ["-i", str(piece.path)]
    graph = []
    video, audio = "[0:v]", "[0:a]"
    length = pieces[0].frames
    for index, piece in enumerate(pieces[1:], 1):
        t = piece.transition_frames
        offset = (length - t) / enc.fps
        graph.append(
            f"{video}[{index}:v]xfade=transition={xfade_name(piece.transition or 'fade')}:"
            f"duration={t / enc.fps:.6f}:offset={offset:.6f}[v{index}]"
        )
        graph.append(
            f"{audio}[{index}:a]acrossfade=ns={samples_for_frames(t, enc.fps)}:c1=tri:c2=tri[a{index}]"
        )
        video, audio = f"[v{index}]", f"[a{index}]"
        length += piece.frames - t
    # xfade keeps the first input's timestamps; make the run start at zero with a constant rate.
    graph.append(f"{video}trim=end_frame={length},setpts=N/FRAME_RATE/TB,format=yuv420p[v]")
    graph.append(f"{audio}atrim=end_sample={samples_for_frames(length, enc.fps)}[a]")
    with atomic_path(dest, suffix=".mov") as tmp:
        run_ffmpeg(
            [*args, "-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]", "-map_metadata", "-1",
             *enc.video_args(), *intermediate_audio_args(), "-f", "mov", str(tmp)],
            what=f"transitions over {len(pieces)} shots",
        )
    return dest, True


def write_concat_list(paths: list[Path], dest: Path) -> Path:
    """An ffconcat list for the concat demuxer (paths quoted as its parser wants)."""
    lines = ["ffconcat version 1.0"]
    for path in paths:
        quoted = str(Path(path).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    atomic_write_text(dest, "\n".join(lines) + "\n")
    return dest


def concat_input(list_path: Path) -> list[str]:
    """Input arguments reading a concat list (absolute paths, so ``-safe 0``)."""
    return ["-f", "concat", "-safe", "0", "-i", str(list_path)]
