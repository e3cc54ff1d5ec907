"""Normalise one clip (or draw a slate) into a cached intermediate of the deliverable's format.

An intermediate has exactly the clip's frame count at the deliverable's size and rate (square
pixels, yuv420p, H.264 at final quality) and the matching number of 48 kHz stereo PCM samples
(silence where the clip has none). It is keyed by the clip's content hash and the edit settings,
so a re-cut re-encodes only clips whose key changed; same key, same bytes, so two processes
racing on one key is harmless (each writes a temp file and renames it).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MediaError
from ..fsutil import atomic_path
from ..media import probe, run_ffmpeg
from . import captions
from .encode import Encoding, SAMPLE_RATE, intermediate_audio_args, rate, samples_for_frames
from .spec import ClipSpec
from .timeline import frames

SLATE_COLOR = "0x1c1c24"


def clip_key(clip: ClipSpec, enc: Encoding) -> str:
    """Cache key of ``clip``'s intermediate: what decides its pixels and samples, never its path."""
    n = frames(clip.length, enc.fps)
    caption = clip.caption if enc.burn_captions else None
    if clip.path is None:
        return enc.key("slate", clip.shot_id, clip.status, n, caption)
    trim_in = clip.trim[0] if clip.trim else 0.0
    return enc.key("clip", clip.sha256, round(trim_in, 6), n, caption)


def intermediate(clip: ClipSpec, enc: Encoding, work_dir: Path) -> tuple[Path, bool]:
    """Path of ``clip``'s intermediate in ``work_dir``, building it if needed; True when built now."""
    dest = work_dir / "clips" / f"{clip_key(clip, enc)}.mov"
    if dest.exists():
        return dest, False
    if clip.path is None:
        args = _slate_args(clip, enc, work_dir)
    else:
        args = _clip_args(clip, enc, work_dir)
    with atomic_path(dest, suffix=".mov") as tmp:
        run_ffmpeg([*args, "-f", "mov", str(tmp)], what=f"normalising shot {clip.shot_id}")
    return dest, True


def _fit(enc: Encoding) -> str:
    w, h = enc.width, enc.height
    # Square pixels first, so 'fill' and 'fit' are judged on the picture's display shape.
    square = "scale=trunc(iw*sar/2)*2:ih,setsar=1"
    if enc.reframe == "pad":
        return (f"{square},scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
                f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1")
    return f"{square},scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1"


def _caption(clip: ClipSpec, enc: Encoding, work_dir: Path) -> str:
    if not (enc.burn_captions and clip.caption and clip.caption.strip()):
        return ""
    return "," + captions.drawtext(clip.caption, enc.width, enc.height, work_dir / "text")


def _clip_args(clip: ClipSpec, enc: Encoding, work_dir: Path) -> list[str]:
    assert clip.path is not None
    if not Path(clip.path).is_file():
        raise MediaError(f"shot {clip.shot_id}: clip {clip.path} does not exist; re-render it (`reelmake render`)")
    info = probe(Path(clip.path))
    if not info.has_video:
        raise MediaError(f"shot {clip.shot_id}: {clip.path} has no video stream; re-render it with --force")
    n = frames(clip.length, enc.fps)
    samples = samples_for_frames(n, enc.fps)
    trim_in = clip.trim[0] if clip.trim else 0.0
    # Read a little past the end so the last frame exists; tpad clones it if the clip is short.
    args = ["-ss", f"{trim_in:.6f}", "-t", f"{clip.length + 1.0:.6f}", "-i", str(clip.path)]
    video = (
        f"[0:v]setpts=PTS-STARTPTS,{_fit(enc)},fps={rate(enc.fps)},format=yuv420p"
        f"{_caption(clip, enc, work_dir)},"
        f"tpad=stop_mode=clone:stop_duration={clip.length + 1.0:.6f},trim=end_frame={n},"
        "setpts=N/FRAME_RATE/TB[v]"
    )
    if info.has_audio:
        audio_in = "[0:a]asetpts=PTS-STARTPTS,"
    else:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=stereo"]
        audio_in = "[1:a]"
    audio = (
        f"{audio_in}aformat=sample_fmts=s16:sample_rates={SAMPLE_RATE}:channel_layouts=stereo,"
        f"apad,atrim=end_sample={samples},asetpts=N/SR/TB[a]"
    )
    return [*args, "-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[a]",
            "-map_metadata", "-1", *enc.video_args(), *intermediate_audio_args()]


def _slate_args(clip: ClipSpec, enc: Encoding, work_dir: Path) -> list[str]:
    n = frames(clip.length, enc.fps)
    samples = samples_for_frames(n, enc.fps)
    w, h = enc.width, enc.height
    big = max(10, round(min(w, h) * 0.09))
    small = max(8, round(big * 0.5))
    text_dir = work_dir / "text"
    title = captions.drawtext(clip.shot_id, w, h, text_dir, y=f"(h/2)-text_h-{big // 3}", size=big, box=False)
    detail = f"{clip.status.upper()}  ·  {clip.length:.2f} s"
    sub = captions.drawtext(detail, w, h, text_dir, y=f"(h/2)+{big // 3}", size=small, box=False)
    video = (
        f"[0:v]{title},{sub}{_caption(clip, enc, work_dir)},"
        f"trim=end_frame={n},setpts=N/FRAME_RATE/TB,format=yuv420p[v]"
    )
    audio = f"[1:a]atrim=end_sample={samples},asetpts=N/SR/TB[a]"
    return [
        "-f", "lavfi", "-i", f"color=c={SLATE_COLOR}:s={w}x{h}:r={rate(enc.fps)}",
        "-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=stereo",
        "-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[a]",
        "-map_metadata", "-1", *enc.video_args(), *intermediate_audio_args(),
    ]
