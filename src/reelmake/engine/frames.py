"""Frames of rendered clips, for shots that continue from another shot (``continue_from``).

A frame is extracted once by ffmpeg and kept in the clip store under a key derived from the clip's
content hash and the frame asked for, so every shot (and variant, and machine sharing the store) that
continues from the same clip at the same frame uses the very same file, and its content hash, which
enters the downstream render key, stays put. The extraction converts the picture to RGB with
swscale's bit-exact flags, so one ffmpeg always writes the same bytes for the same clip.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

from ..errors import MediaError
from ..media import input_args, run_ffmpeg
from .clips import ClipStore, Entry
from .lock import now_iso

FRAME_VERSION = 1  # bump when the extraction changes, so frames are extracted again


def frame_key(clip_sha256: str, frame: str) -> str:
    """The store key of ``frame`` ("last", "first" or seconds) of the clip with that content hash."""
    payload = json.dumps({"frame": frame, "of": clip_sha256, "v": FRAME_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _command(clip: Path, frame: str, dest: Path) -> list[str]:
    if frame == "last":
        # Seek to a second before the end (the decoder starts at the keyframe before it and drops what
        # precedes the target), then overwrite the one output image with every frame: the last remains.
        seek, pick = ["-sseof", "-1"], ["-update", "1"]
    elif frame == "first":
        seek, pick = [], ["-frames:v", "1"]
    else:
        seek, pick = ["-ss", frame], ["-frames:v", "1"]
    picture = "scale=flags=accurate_rnd+bitexact+full_chroma_int,format=rgb24"
    return [*seek, *input_args(clip, "video"), "-map", "0:v:0", "-an", "-vf", picture, *pick,
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", "-f", "image2", "-c:v", "png",
            str(dest)]


def extract_frame(store: ClipStore, clip: Entry, frame: str, tmp_dir: Path) -> Entry:
    """The frame of ``clip`` in the store (extracted and stored the first time); MediaError when the
    clip has no such frame."""
    key = frame_key(clip.sha256, frame)
    found = store.get(key)
    if found is not None:
        return found
    tmp_dir.mkdir(parents=True, exist_ok=True)
    dest = tmp_dir / f"frame-{key}.{uuid.uuid4().hex[:8]}.png"
    try:
        run_ffmpeg(_command(clip.clip, frame, dest), what=f"{frame} frame of clip {clip.key[:12]}")
        if not dest.is_file() or dest.stat().st_size == 0:
            raise MediaError(f"clip {clip.key[:12]} has no frame at {frame} s (it lasts less)")
        return store.put(key, dest, {"kind": "frame", "of": clip.sha256, "clip_key": clip.key, "frame": frame,
                                     "created_at": now_iso()})
    finally:
        dest.unlink(missing_ok=True)
