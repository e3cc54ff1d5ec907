"""Download a finished task's clip and prove it is the clip that was ordered.

Streamed to a temporary file beside ``dest`` with a size cap, demuxed end to end by ffmpeg (a
truncated mp4 whose index is at the front still probes as complete), probed for duration and
aspect ratio, then renamed into place; a generated image (``job.kind == "image"``) must be a whole PNG,
JPEG or WebP (told by its first bytes) of the ordered shape. Failures a second download could fix are
:class:`Transient`;
an output that is gone is :class:`TaskLost`; one that is not what was ordered is :class:`OutputRejected`.
``host`` names the provider in messages; the download never carries an API key (output URLs are
pre-signed links on another host).
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import httpx

from ...errors import BackendUnavailable, MediaError, OutputRejected, TaskLost, Transient
from ...fsutil import atomic_path
from ...media import DEMUXERS, MediaInfo, image_suffix, probe, run_ffmpeg
from ...jobs import RenderJob, TaskOutput
from .http import check_url

DURATION_TOLERANCE = 0.5
ASPECT_TOLERANCE = 0.02  # providers round frame sizes to even numbers


def _ratio(text: str) -> Fraction:
    width, _, height = text.partition(":")
    return Fraction(int(width), int(height))


def check_clip(job: RenderJob, info: MediaInfo, task_id: str, host: str) -> None:
    """Raise OutputRejected when the clip is not what ``job`` asked for."""
    where = f"shot {job.shot_id}: output of {host} task {task_id}"
    if not info.has_video or not info.width or not info.height:
        raise OutputRejected(f"{where} has no video stream.", task_id=task_id)
    if abs(info.duration - job.duration) > DURATION_TOLERANCE:
        raise OutputRejected(
            f"{where} lasts {info.duration:.2f} s, not the {job.duration:g} s ordered (±{DURATION_TOLERANCE} s); "
            f"report the task id to {host}.",
            task_id=task_id,
        )
    want = _ratio(job.aspect_ratio)
    got = Fraction(info.width, info.height)
    if abs(float(got / want) - 1.0) > ASPECT_TOLERANCE:
        raise OutputRejected(
            f"{where} is {info.width}x{info.height}, not {job.aspect_ratio}; report the task id to {host}.",
            task_id=task_id,
        )


def check_image(job: RenderJob, info: MediaInfo, task_id: str, host: str) -> None:
    """Raise OutputRejected when the image is not the shape ``job`` asked for ("" when the model picks)."""
    where = f"{job.shot_id}: output of {host} task {task_id}"
    if not info.has_video or not info.width or not info.height:
        raise OutputRejected(f"{where} has no picture.", task_id=task_id)
    if job.aspect_ratio:
        want, got = _ratio(job.aspect_ratio), Fraction(info.width, info.height)
        if abs(float(got / want) - 1.0) > ASPECT_TOLERANCE:
            raise OutputRejected(f"{where} is {info.width}x{info.height}, not {job.aspect_ratio}; report the task "
                                 f"id to {host}.", task_id=task_id)


def _verify_image(path: Path) -> MediaInfo:
    suffix = image_suffix(path)
    if suffix is None:
        raise MediaError(f"{path.name} is not a PNG, JPEG or WebP image")
    info = probe(path, "image", demuxer=DEMUXERS["image"][suffix])
    # Decode it whole: a cut-off image still probes.
    run_ffmpeg(["-v", "error", "-xerror", "-f", DEMUXERS["image"][suffix], "-i", f"file:{path}", "-f", "null", "-"],
               what="verify download")
    return info


def _verify(path: Path) -> MediaInfo:
    info = probe(path)
    # Demux every packet: catches a file cut short even when its index says otherwise.
    demux = ["-v", "error", "-xerror", "-i", str(path), "-map", "0", "-c", "copy", "-f", "null", "-"]
    run_ffmpeg(demux, what="verify download")
    return info


async def download_and_verify(
    client: httpx.AsyncClient, job: RenderJob, output: TaskOutput, dest: Path, max_bytes: int, timeout: httpx.Timeout,
    *, host: str,
) -> None:
    """Stream ``output.urls[0]`` into ``dest`` atomically; see the module docstring."""
    cap_setting = f"raise backends.{job.backend}.max_download_mb to allow more"
    task_id = output.task_id
    where = f"shot {job.shot_id}: download of task {task_id}"
    if not output.urls:
        raise OutputRejected(f"{where}: the task has no output URL.", task_id=task_id)
    try:
        url = check_url(output.urls[0], f"output URL from {host}")
    except BackendUnavailable as exc:
        raise OutputRejected(f"{where}: {exc}", task_id=task_id) from None
    dest = Path(dest)
    try:
        with atomic_path(dest, suffix=".part.mp4") as tmp:
            # No Authorization header: output URLs are pre-signed CDN links on another host.
            async with client.stream("GET", url, timeout=timeout) as response:
                if response.status_code in (403, 404, 410):
                    raise TaskLost(
                        f"{where}: the output is gone (HTTP {response.status_code}); {host} deletes outputs after "
                        "a few days. Render the shot again with --force (it will be paid again).",
                        task_id=task_id,
                    )
                if response.status_code != 200:
                    raise Transient(f"{where}: HTTP {response.status_code}.", task_id=task_id)
                announced = int(response.headers.get("Content-Length") or 0)
                if announced > max_bytes:
                    raise OutputRejected(
                        f"{where}: {announced} bytes is over the {max_bytes} byte cap ({cap_setting}).",
                        task_id=task_id,
                    )
                received = 0
                with open(tmp, "wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 20):
                        received += len(chunk)
                        if received > max_bytes:
                            raise OutputRejected(
                                f"{where}: more than {max_bytes} bytes ({cap_setting}).", task_id=task_id
                            )
                        fh.write(chunk)
                if announced and received != announced:
                    raise Transient(f"{where}: got {received} of {announced} bytes.", task_id=task_id)
            image = job.kind == "image"
            try:
                info = await asyncio.to_thread(_verify_image if image else _verify, tmp)
            except MediaError as exc:
                what = "image" if image else "video"
                raise Transient(
                    f"{where}: not a complete {what} ({str(exc).splitlines()[0]}); downloading again may help.",
                    task_id=task_id,
                ) from None
            (check_image if image else check_clip)(job, info, task_id, host)
    except httpx.TransportError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise Transient(f"{where}: interrupted ({reason}).", task_id=task_id) from None
