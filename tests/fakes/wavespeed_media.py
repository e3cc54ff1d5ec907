"""Real outputs for the fake WaveSpeed provider: mp4 clips of the exact duration and aspect ratio with
tiny frames, and still images (JPEG or PNG) of the exact size.

Clips are made once per (duration, aspect, sound, colour) and reused, so a suite that renders many
shots pays for ffmpeg only a few times.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from reelmake.fsutil import atomic_path
from reelmake.media import run_ffmpeg

SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}
_COLOURS = ("0x3355aa", "0xaa5533", "0x33aa55", "0x8844aa", "0xaaaa33", "0x338899")
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def clip_name(duration: int, aspect: str, sound: bool, seed: str) -> str:
    """File name of the clip for these parameters; ``seed`` (e.g. the prompt) picks a colour."""
    colour = _COLOURS[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(_COLOURS)]
    return f"clip-{duration}s-{aspect.replace(':', 'x')}-{'snd' if sound else 'mute'}-{colour[2:]}.mp4"


def ensure_clip(directory: Path, duration: int, aspect: str, sound: bool, seed: str) -> Path:
    """Make (once) and return an mp4 of ``duration`` seconds at a small size of ``aspect``."""
    dest = directory / clip_name(duration, aspect, sound, seed)
    with _locks_guard:
        lock = _locks.setdefault(dest, threading.Lock())
    with lock:
        if dest.exists():
            return dest
        width, height = SIZES[aspect]
        colour = _COLOURS[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(_COLOURS)]
        args = ["-f", "lavfi", "-i", f"color=c={colour}:s={width}x{height}:r=24:d={duration}"]
        if sound:
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={duration}"]
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-t", str(duration)]
        if sound:
            args += ["-c:a", "aac", "-b:a", "64k", "-ac", "2"]
        with atomic_path(dest, suffix=".mp4") as tmp:
            run_ffmpeg([*args, "-movflags", "+faststart", str(tmp)], what="fake WaveSpeed output")
        return dest


def ensure_image(directory: Path, width: int, height: int, fmt: str, seed: str) -> Path:
    """Make (once) and return a still of ``width``x``height`` in ``fmt`` (jpeg or png), coloured by ``seed``."""
    colour = _COLOURS[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(_COLOURS)]
    suffix = ".jpg" if fmt == "jpeg" else ".png"
    dest = directory / f"image-{width}x{height}-{colour[2:]}{suffix}"
    with _locks_guard:
        lock = _locks.setdefault(dest, threading.Lock())
    with lock:
        if not dest.exists():
            with atomic_path(dest, suffix=suffix) as tmp:
                run_ffmpeg(["-f", "lavfi", "-i", f"color=c={colour}:s={width}x{height}", "-frames:v", "1",
                            "-f", "image2", "-c:v", "mjpeg" if fmt == "jpeg" else "png", str(tmp)],
                           what="fake WaveSpeed image")
        return dest
