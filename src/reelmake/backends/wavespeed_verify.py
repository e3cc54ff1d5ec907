"""Download a finished task's clip and prove it is the clip that was ordered.

Streamed to a temporary file beside ``dest`` with a size cap, demuxed end to end by ffmpeg (a
truncated mp4 whose index is at the front still probes as complete), probed for duration and
aspect ratio, then renamed into place. Failures a second download could fix are retryable.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import httpx

from ..errors import BackendError, BackendUnavailable, MediaError
from ..fsutil import atomic_path
from ..media import MediaInfo, probe, run_ffmpeg
from .base import RenderJob, TaskOutput
from .wavespeed_http import check_url

DURATION_TOLERANCE = 0.5
ASPECT_TOLERANCE = 0.02  # providers round frame sizes to even numbers
CAP_SETTING = "raise backends.wavespeed.max_download_mb to allow more"


def _ratio(text: str) -> Fraction:
    width, _, height = text.partition(":")
    return Fraction(int(width), int(height))


def check_clip(job: RenderJob, info: MediaInfo, task_id: str) -> None:
    """Raise a not-retryable BackendError when the clip is not what ``job`` asked for."""
    where = f"shot {job.shot_id}: output of WaveSpeed task {task_id}"
    if not info.has_video or not info.width or not info.height:
        raise BackendError(f"{where} has no video stream.", task_id=task_id)
    if abs(info.duration - job.duration) > DURATION_TOLERANCE:
        raise BackendError(
            f"{where} lasts {info.duration:.2f} s, not the {job.duration:g} s ordered (±{DURATION_TOLERANCE} s); "
            "report the task id to WaveSpeed.",
            task_id=task_id,
        )
    want = _ratio(job.aspect_ratio)
    got = Fraction(info.width, info.height)
    if abs(float(got / want) - 1.0) > ASPECT_TOLERANCE:
        raise BackendError(
            f"{where} is {info.width}x{info.height}, not {job.aspect_ratio}; report the task id to WaveSpeed.",
            task_id=task_id,
        )


def _verify(path: Path) -> MediaInfo:
    info = probe(path)
    # Demux every packet: catches a file cut short even when its index says otherwise.
    demux = ["-v", "error", "-xerror", "-i", str(path), "-map", "0", "-c", "copy", "-f", "null", "-"]
    run_ffmpeg(demux, what="verify download")
    return info


async def download_and_verify(
    client: httpx.AsyncClient, job: RenderJob, output: TaskOutput, dest: Path, max_bytes: int, timeout: httpx.Timeout
) -> None:
    """Stream ``output.urls[0]`` into ``dest`` atomically; see the module docstring."""
    task_id = output.task_id
    where = f"shot {job.shot_id}: download of task {task_id}"
    if not output.urls:
        raise BackendError(f"{where}: the task has no output URL.", task_id=task_id)
    try:
        url = check_url(output.urls[0], "output URL from WaveSpeed")
    except BackendUnavailable as exc:
        raise BackendError(f"{where}: {exc}", task_id=task_id) from None
    dest = Path(dest)
    try:
        with atomic_path(dest, suffix=".part.mp4") as tmp:
            # No Authorization header: output URLs are pre-signed CDN links on another host.
            async with client.stream("GET", url, timeout=timeout) as response:
                if response.status_code in (403, 404, 410):
                    raise BackendError(
                        f"{where}: the output is gone (HTTP {response.status_code}); WaveSpeed deletes outputs after "
                        "7 days. Render the shot again with --force (it will be paid again).",
                        task_id=task_id,
                    )
                if response.status_code != 200:
                    raise BackendError(f"{where}: HTTP {response.status_code}.", retryable=True, task_id=task_id)
                announced = int(response.headers.get("Content-Length") or 0)
                if announced > max_bytes:
                    raise BackendError(
                        f"{where}: {announced} bytes is over the {max_bytes} byte cap ({CAP_SETTING}).",
                        task_id=task_id,
                    )
                received = 0
                with open(tmp, "wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 20):
                        received += len(chunk)
                        if received > max_bytes:
                            raise BackendError(
                                f"{where}: more than {max_bytes} bytes ({CAP_SETTING}).", task_id=task_id
                            )
                        fh.write(chunk)
                if announced and received != announced:
                    raise BackendError(
                        f"{where}: got {received} of {announced} bytes.", retryable=True, task_id=task_id
                    )
            try:
                info = await asyncio.to_thread(_verify, tmp)
            except MediaError as exc:
                raise BackendError(
                    f"{where}: not a complete video ({str(exc).splitlines()[0]}); downloading again may help.",
                    retryable=True,
                    task_id=task_id,
                ) from None
            check_clip(job, info, task_id)
    except httpx.TransportError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise BackendError(f"{where}: interrupted ({reason}).", retryable=True, task_id=task_id) from None
