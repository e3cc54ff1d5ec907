"""Test helpers shared by the WaveSpeed tests: tiny real reference media and RenderJobs for Kling O3."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from reelmake.jobs import InputFile, JobId, RenderJob, file_ref
from reelmake.fsutil import sha256_file
from reelmake.media import run_ffmpeg

from .wavespeed_schema import RATES, STD


def make_image(path: Path, colour: str = "red", size: str = "320x320") -> Path:
    """A real PNG of ``size`` made by ffmpeg."""
    run_ffmpeg(["-f", "lavfi", "-i", f"color=c={colour}:s={size}", "-frames:v", "1", str(path)], what="test image")
    return path


def make_video(path: Path, seconds: int = 3) -> Path:
    """A real tiny mp4 to use as a reference video."""
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc=s=320x180:r=12:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        what="test video",
    )
    return path


def input_file(path: Path, kind: str = "image", name: str | None = None) -> InputFile:
    return InputFile(sha256=sha256_file(path), path=path.resolve(), kind=kind, name=name or path.stem)


def make_job(
    shot_id: str,
    images: list[Path | str],
    *,
    duration: int = 3,
    aspect: str = "16:9",
    sound: bool = False,
    video: Path | None = None,
    endpoint: str = STD,
    prompt: str | None = None,
    **extra: Any,
) -> RenderJob:
    """A compiled Kling O3 job; local paths become ``sha256:`` refs, strings pass through as URLs."""
    files: dict[str, InputFile] = {}
    refs: list[str] = []
    for image in images:
        if isinstance(image, Path):
            info = input_file(image)
            files[info.sha256] = info
            refs.append(file_ref(info.sha256))
        else:
            refs.append(image)
    request: dict[str, Any] = {
        "prompt": prompt or f"Shot {shot_id}: the woman in Figure 1 walks along the shore at dawn",
        "images": refs,
        "sound": sound,
        "aspect_ratio": aspect,
        "duration": duration,
        "shot_type": "intelligent",
        **extra,
    }
    if video is not None:
        info = input_file(video, kind="video")
        files[info.sha256] = info
        request["video"] = file_ref(info.sha256)
        request["keep_original_sound"] = True
    mode = "video" if video is not None else "sound" if sound else "base"
    return RenderJob(
        key=f"key-{shot_id}",
        id=JobId(shot_id),
        backend="wavespeed",
        model=endpoint.split("/")[1],
        endpoint=endpoint,
        request=request,
        files=files,
        duration=float(duration),
        aspect_ratio=aspect,
        sound=sound,
        mode=mode,
        cost=RATES[endpoint][mode] * Decimal(duration),
    )
