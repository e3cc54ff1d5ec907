"""Backend ``local``: Wan 2.1 VACE reference-to-video through diffusers, on this machine's GPUs.

Each device in ``backends.local.devices`` gets one worker thread and therefore one queue: shots go
to the device with the fewest waiting, and run there one at a time. The pipeline is loaded once per
process per (model, device, dtype, offload) and reused by every shot (see ``local_wan_pipeline``).
The model makes silent frames at its native rate (16 fps); ffmpeg turns them into an H.264 clip of
exactly the shot's duration with a silent stereo AAC track, so every clip has the same shape as a
hosted model's.

Nothing here imports torch or diffusers at module import time: the core install must not need them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...errors import BackendError, BackendUnavailable, MediaError
from ...fsutil import atomic_path, scratch_dir
from ...jobs import RenderJob, StatusCallback
from .settings import (
    extra_installed,
    extra_missing_message,
    looks_like_local_path,
    model_dir_problem,
    resolve_local_path,
    settings_problems,
)

log = logging.getLogger("reelmake.backends.local")

DEFAULT_MODEL = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
_REQUIRED = ("prompt", "width", "height", "num_frames", "fps", "duration", "steps", "guidance_scale", "seed")
_KNOWN = frozenset((*_REQUIRED, "negative_prompt", "reference_images", "flow_shift", "model", "dtype"))


class LocalWanBackend:
    """Renders shots with a Wan 2.1 VACE checkpoint through diffusers (the ``local`` extra)."""

    name = "local"
    remote = False

    def __init__(self, settings: Mapping[str, Any] | None = None, folder: Path | None = None) -> None:
        self.settings: dict[str, Any] = dict(settings or {})
        self.folder = folder  # scratch space for frames being encoded
        self._workers: dict[str, ThreadPoolExecutor] = {}
        self._waiting: dict[str, int] = {}  # per device: shots submitted and not finished
        self._cancel_events: set[threading.Event] = set()
        self._resolved: dict[str, str] = {}  # requested device ("auto", "cuda:1") -> torch device

    # ----------------------------------------------------------------- settings

    def devices(self) -> list[str]:
        """Requested devices in order; ``auto`` (CUDA when available, else CPU) when none is set."""
        if self.settings.get("devices"):
            return [str(d) for d in self.settings["devices"]]
        return [str(self.settings.get("device") or "auto")]

    def model_source(self, job: RenderJob) -> str:
        """Hub id or absolute directory to load for ``job``: ``backends.local.model_path`` overrides the
        compiled request's ``model``."""
        source = self.settings.get("model_path") or job.request.get("model") or DEFAULT_MODEL
        if looks_like_local_path(source):
            return str(resolve_local_path(source).resolve())
        return str(source)

    # ---------------------------------------------------------------- preflight

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Fail before anything loads: extra missing, bad settings, model not there, device absent."""
        if not extra_installed():
            raise BackendUnavailable(extra_missing_message())
        problems = settings_problems(self.settings)
        if problems:
            raise BackendUnavailable(
                "backends.local: " + "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems)
            )
        for model in sorted({self.model_source(job) for job in jobs}):
            _check_model_source(model)
        for job in jobs:
            problem = _request_problem(job.request)
            if problem:
                raise BackendUnavailable(f"shot {job.shot_id}: {problem}")
        from . import pipeline as lp  # imports torch: only now that a local render is wanted

        for device in self.devices():
            self._resolve(lp, device)

    def _resolve(self, lp: Any, device: str) -> str:
        # Once per backend: "auto" falling back to the CPU warns once, not once per shot.
        if device not in self._resolved:
            self._resolved[device] = lp.resolve_device(device)
        return self._resolved[device]

    # ---------------------------------------------------------------------- run

    async def run(self, job: RenderJob, dest: Path, on_status: StatusCallback) -> None:
        """Render ``job`` into ``dest`` on the least busy device; progress reports denoising steps."""
        loop = asyncio.get_running_loop()
        device = min(self.devices(), key=lambda d: self._waiting.get(d, 0))
        if self._waiting.get(device, 0):
            on_status("queued", f"waiting for {device}")
        worker = self._workers.get(device)
        if worker is None:
            worker = self._workers[device] = ThreadPoolExecutor(1, thread_name_prefix=f"reelmake-wan-{device}")

        def status(state: str, detail: str) -> None:  # called from the worker thread
            with contextlib.suppress(RuntimeError):  # the loop may be closing after a Ctrl-C
                loop.call_soon_threadsafe(on_status, state, detail)

        cancelled = threading.Event()
        self._cancel_events.add(cancelled)
        self._waiting[device] = self._waiting.get(device, 0) + 1
        try:
            future = worker.submit(self._render, job, Path(dest), device, status, cancelled)
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            cancelled.set()  # a shot already on the GPU stops at its next denoising step
            raise
        finally:
            self._waiting[device] -= 1
            self._cancel_events.discard(cancelled)

    def _render(
        self, job: RenderJob, dest: Path, device_name: str, status: StatusCallback, cancelled: threading.Event
    ) -> None:
        from . import pipeline as lp

        if cancelled.is_set():
            raise lp.Cancelled
        request = job.request
        problem = _request_problem(request)
        if problem:
            raise BackendError(f"shot {job.shot_id}: {problem}")
        device = self._resolve(lp, device_name)
        key = lp.PipelineKey(
            source=self.model_source(job),
            device=device,
            dtype=str(job.request.get("dtype") or self.settings.get("dtype") or lp.default_dtype(device)),
            offload=str(self.settings.get("offload") or "none"),
        )
        images = [_reference(lp, job, ref) for ref in request.get("reference_images") or []]
        steps = int(request["steps"])
        try:
            loaded = lp.get_pipeline(key, on_loading=lambda: status("running", f"loading model on {device}"))
            status("running", f"step 0/{steps}")
            frames = lp.generate(
                loaded, request, images, lambda i, n: status("running", f"step {i}/{n}"), cancelled
            )
        except BackendError:
            raise
        except lp.Cancelled as exc:
            lp.drop_traceback(exc)
            raise
        except Exception as exc:  # a pipeline error fails this shot, never the run
            lp.drop_traceback(exc)
            detail = f"{type(exc).__name__}: {exc}"
            raise BackendError(f"shot {job.shot_id}: Wan VACE pipeline failed: {detail}") from exc
        status("running", "encoding")
        scratch = self.folder / "tmp" if self.folder else dest.parent
        encode_clip(frames, int(request["fps"]), float(request["duration"]), dest, scratch)

    async def aclose(self) -> None:
        """Stop queued shots, let running ones stop at their next step, and end the worker threads.

        Loaded pipelines stay cached for the rest of the process (reloading costs minutes);
        ``local_wan_pipeline.unload_pipelines()`` frees them.
        """
        for event in list(self._cancel_events):
            event.set()
        workers = list(self._workers.values())
        self._workers.clear()
        for worker in workers:
            worker.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(lambda: [worker.shutdown(wait=True) for worker in workers])


def _reference(lp: Any, job: RenderJob, ref: str) -> Any:
    file = job.file(ref)
    try:
        return lp.load_reference(file.path)
    except (OSError, ValueError) as exc:
        raise BackendError(f"shot {job.shot_id}: reference image {file.name!r} ({file.path}) is unreadable: {exc}")


def _request_problem(request: Mapping[str, Any]) -> str | None:
    missing = [k for k in _REQUIRED if request.get(k) is None]
    if missing:
        return f"compiled request lacks {', '.join(missing)} (a compiler bug; please report it)"
    if "video" in request:
        return "the local backend takes reference images only; reference videos are not supported"
    unknown = sorted(set(request) - _KNOWN)
    if unknown:
        return f"the local backend does not support {', '.join(unknown)}"
    return None


def _check_model_source(source: str) -> None:
    if looks_like_local_path(source):
        problem = model_dir_problem(Path(source))
        if problem:
            raise BackendUnavailable(f"backends.local.model_path: {problem}")
        return
    from huggingface_hub import constants, try_to_load_from_cache

    if try_to_load_from_cache(source, "model_index.json") is not None:
        return
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise BackendUnavailable(
            f"backends.local: model {source!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; "
            f"download it first (`huggingface-cli download {source}`) or point model_path at a local copy"
        )
    log.warning("model %s is not downloaded yet; the first shot downloads it (tens of GB for 14B)", source)


def encode_clip(frames: Any, fps: int, duration: float, dest: Path, scratch: Path) -> None:
    """Write RGB ``frames`` (uint8, frames x height x width x 3) as an mp4 of exactly ``duration``.

    Native ``fps``; trimmed with ``-t`` when long, padded by repeating the last frame when short;
    H.264 yuv420p and a silent 48 kHz stereo AAC track (Wan has no audio). Atomic into ``dest``.
    """
    count, height, width, channels = frames.shape
    if channels != 3 or count == 0:
        raise MediaError(f"{dest.name}: expected RGB frames, got an array shaped {frames.shape}")
    import ffmpeg  # with the editor's graph kit, loaded only to encode (this module imports bare)

    from ...ffgraph import input_stream, run_graph, source

    short = duration - count / fps
    with scratch_dir(scratch, "wan") as tmp:
        raw = tmp / "frames.rgb"
        raw.write_bytes(frames.tobytes())
        video = input_stream(f"file:{raw}", f="rawvideo", pixel_format="rgb24", video_size=(width, height),
                             framerate=fps, protocol_whitelist="file")["v:0"]  # video_size: ffmpeg-python wants a pair
        if short > 0:  # clone the last frame a little past the end; -t cuts exactly
            video = video.filter("tpad", stop_mode="clone", stop_duration=f"{short + 1 / fps:.4f}")
        silence = source("anullsrc", channel_layout="stereo", sample_rate=48000)
        with atomic_path(dest, suffix=".mp4") as out:
            run_graph(ffmpeg.output(video, silence, str(out), t=f"{duration:.6f}", format="mp4", preset="medium",
                                    crf=16, pix_fmt="yuv420p", movflags="+faststart",
                                    **{"c:v": "libx264", "c:a": "aac", "b:a": "128k"}),
                      what=f"encoding {dest.name}")
