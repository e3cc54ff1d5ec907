"""Tiny real media for the editor's tests, generated with ffmpeg, and helpers to measure outputs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from reelmake.edit import ClipSpec, CutSpec, DeliverableSpec
from reelmake.fsutil import sha256_file


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error", *args], check=True)


def make_clip(path: Path, *, seconds: float = 2.0, size: str = "320x180", fps: int = 24,
              tone: float | None = 440.0, color: str | None = None, volume_db: float = 0.0) -> Path:
    """A test clip: moving test pattern (or a flat colour) with a sine tone (or no audio)."""
    video = f"color=c={color}:s={size}:r={fps}:d={seconds}" if color else f"testsrc2=s={size}:r={fps}:d={seconds}"
    args = ["-f", "lavfi", "-i", video]
    if tone is not None:
        args += ["-f", "lavfi", "-i", f"sine=f={tone}:r=48000:d={seconds}",
                 "-af", f"volume={volume_db}dB", "-c:a", "aac", "-b:a", "96k"]
    ffmpeg(*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path))
    return path


def make_tone(path: Path, *, seconds: float = 4.0, freq: float = 220.0, volume_db: float = 0.0) -> Path:
    """A music-bed stand-in: a steady stereo tone as WAV."""
    ffmpeg("-f", "lavfi", "-i", f"sine=f={freq}:r=48000:d={seconds}", "-af", f"volume={volume_db}dB",
           "-ac", "2", str(path))
    return path


def clip_spec(path: Path | None, shot_id: str, seconds: float = 2.0, **kw) -> ClipSpec:
    return ClipSpec(shot_id=shot_id, path=path, sha256=sha256_file(path) if path else None, duration=seconds, **kw)


def deliverable(name: str = "master", size: str = "320x180", fps: float = 24, **kw) -> DeliverableSpec:
    w, h = (int(v) for v in size.split("x"))
    return DeliverableSpec(name=name, width=w, height=h, fps=fps, **kw)


def spec(clips, deliv: DeliverableSpec | None = None, **kw) -> CutSpec:
    return CutSpec(title="test", clips=tuple(clips), deliverable=deliv or deliverable(), **kw)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-count_frames",
         str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def video_frames(path: Path) -> int:
    data = ffprobe(path)
    video = next(s for s in data["streams"] if s["codec_type"] == "video")
    return int(video["nb_read_frames"])


def levels(path: Path, start: float, end: float, band: float | None = None) -> float:
    """RMS level in dBFS of ``path``'s audio between ``start`` and ``end`` seconds (around ``band`` Hz)."""
    pre = f"bandpass=f={band}:width_type=q:w=8," if band else ""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-ss", f"{start}", "-t", f"{end - start}", "-i", str(path),
         "-map", "0:a", "-af", f"{pre}astats=measure_perchannel=none", "-f", "null", "-"],
        capture_output=True, text=True, check=True)
    match = re.findall(r"RMS level dB:\s*(-?[\d.]+|-inf)", proc.stderr)
    return float(match[-1]) if match and match[-1] != "-inf" else float("-inf")


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness and true peak of ``path`` measured independently of the editor."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a", "-af", "ebur128=peak=true",
         "-f", "null", "-"], capture_output=True, text=True, check=True)
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+)\s+LUFS", summary).group(1))
    tp = float(re.search(r"Peak:\s+(-?[\d.]+)\s+dBFS", summary).group(1))
    return i, tp


def frame_at(path: Path, seconds: float, size: tuple[int, int]) -> bytes:
    """Raw gray8 pixels of the frame at ``seconds``."""
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-ss", f"{seconds}", "-i", str(path),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True).stdout


def make_numbered(path: Path, *, frames: int = 48, fps: int = 24, size: str = "160x90", gop: int = 12,
                  profile: str = "high", tone: float | None = 440.0) -> Path:
    """A clip whose frame n is flat grey at luma 20 + 4n (so every frame identifies itself), in the
    editor's delivery format (H.264 High, yuv420p, B-frames) with a keyframe every ``gop`` frames."""
    seconds = frames / fps
    args = ["-f", "lavfi", "-i", f"color=c=black:s={size}:r={fps}:d={seconds}"]
    if tone is not None:
        args += ["-f", "lavfi", "-i", f"sine=f={tone}:r=48000:d={seconds}", "-c:a", "aac", "-b:a", "96k"]
    ffmpeg(*args, "-vf", "geq=lum=20+4*N:cb=128:cr=128", "-frames:v", str(frames), "-c:v", "libx264",
           "-preset", "veryfast", "-profile:v", profile, "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
           "-pix_fmt", "yuv420p", str(path))
    return path


def frame_lumas(path: Path) -> list[float]:
    """Mean luma of every decoded video frame of ``path``, in presentation order."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-vf", "scale=8:8",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return [sum(raw[i:i + 64]) / 64 for i in range(0, len(raw), 64)]


def frame_hashes(path: Path) -> list[str]:
    """md5 of every decoded video frame: equal pixels, whatever the container or bitstream around them."""
    text = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
                          capture_output=True, text=True, check=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in text.splitlines() if line and not line.startswith("#")]


def stream_durations(path: Path) -> dict[str, float]:
    return {s["codec_type"]: float(s["duration"]) for s in ffprobe(path)["streams"]}
