"""The torch side of the local Wan backend: devices, loading the pipeline once, generating frames.

Imported only from inside worker functions, never at module import time of the backend, so the
core install never imports torch. Every function here blocks; the backend calls them from its
per-device worker threads.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import BackendError, BackendUnavailable

log = logging.getLogger("reelmake.backends.local")


@dataclass(frozen=True)
class PipelineKey:
    """What identifies one loaded copy of the model in this process."""

    source: str  # hub id or absolute directory
    device: str
    dtype: str
    offload: str  # "none" | "model" | "sequential"


@dataclass
class LoadedPipeline:
    pipe: Any  # diffusers.WanVACEPipeline
    key: PipelineKey
    scheduler_config: Mapping[str, Any]  # as shipped, before any per-shot flow_shift


class Cancelled(Exception):
    """Raised from the denoising callback to stop a shot whose render was cancelled."""


_pipelines: dict[PipelineKey, LoadedPipeline] = {}
_key_locks: dict[PipelineKey, threading.Lock] = {}
_guard = threading.Lock()


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu`` (with a warning); check the device exists.

    Raises :class:`BackendUnavailable` for a device this machine does not have.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        log.warning(
            "local backend: no CUDA GPU found, rendering on the CPU; expect hours per shot at full size"
        )
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendUnavailable(
                f"backends.local device {name!r}: this torch build sees no CUDA GPU "
                f"(torch {torch.__version__}, CUDA {torch.version.cuda or 'not compiled in'}); install a CUDA "
                "build of torch, or set `device: cpu` (very slow)"
            )
        index = int(name.partition(":")[2] or 0)
        count = torch.cuda.device_count()
        if index >= count:
            raise BackendUnavailable(
                f"backends.local device {name!r} does not exist: this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    elif name == "mps" and not torch.backends.mps.is_available():
        raise BackendUnavailable("backends.local device 'mps': Apple Metal is not available to this torch")
    return name


def default_dtype(device: str) -> str:
    # bfloat16 halves memory on GPUs with no visible loss for Wan; CPUs run it slowly or not at all.
    return "bfloat16" if device.startswith("cuda") else "float32"


def get_pipeline(key: PipelineKey, on_loading: Callable[[], None] | None = None) -> LoadedPipeline:
    """The pipeline for ``key``, loaded on first use and shared by every later shot in this process."""
    with _guard:
        if key in _pipelines:
            return _pipelines[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:  # two workers asking for the same key load it once
        if key not in _pipelines:
            if on_loading is not None:
                on_loading()
            loaded = _load(key)
            with _guard:
                _pipelines[key] = loaded
        return _pipelines[key]


def loaded_keys() -> list[PipelineKey]:
    """Keys of the pipelines currently held in memory."""
    with _guard:
        return list(_pipelines)


def unload_pipelines() -> None:
    """Drop every cached pipeline and return GPU memory to the driver."""
    with _guard:
        _pipelines.clear()
        _key_locks.clear()
    _free_memory()


def _load(key: PipelineKey) -> LoadedPipeline:
    from diffusers import AutoencoderKLWan, WanVACEPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    # Their tqdm bars would scribble over reelmake's progress display; we report steps ourselves.
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()

    dtype = getattr(torch, key.dtype)
    log.info("loading %s (%s, %s, offload %s)", key.source, key.device, key.dtype, key.offload)
    try:
        with warnings.catch_warnings():
            # Newer diffusers renamed torch_dtype to dtype and warns; 0.34 only knows torch_dtype.
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            # The Wan VAE loses detail in half precision; the published recipe keeps it in float32.
            vae = AutoencoderKLWan.from_pretrained(key.source, subfolder="vae", torch_dtype=torch.float32)
            pipe = WanVACEPipeline.from_pretrained(key.source, vae=vae, torch_dtype=dtype)
    except (OSError, ValueError) as exc:
        raise BackendError(
            f"could not load the Wan VACE pipeline from {key.source!r}: {exc}. Check backends.local.model_path "
            "(a diffusers checkpoint directory or hub id such as Wan-AI/Wan2.1-VACE-1.3B-diffusers)."
        ) from exc
    pipe.set_progress_bar_config(disable=True)
    try:
        if key.offload == "model":
            pipe.enable_model_cpu_offload(device=key.device)
        elif key.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=key.device)
        else:
            pipe.to(key.device)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        drop_traceback(exc)
        del pipe, vae
        _free_memory()
        advice = "set backends.local.offload: model (or sequential, slower still)"
        if key.offload == "sequential":
            advice = "use a smaller model (wan2.1-vace-1.3b) or a GPU with more memory"
        raise BackendError(
            f"the model {key.source!r} does not fit on {key.device} ({_first_line(exc)}); {advice}",
            code="out_of_memory",
        ) from exc
    return LoadedPipeline(pipe=pipe, key=key, scheduler_config=dict(pipe.scheduler.config))


def drop_traceback(exc: BaseException) -> None:
    """Forget where ``exc`` was raised: its frames hold the shot's GPU tensors, and the error may be
    kept (chained, reported) long after, while the next shot needs that memory. Logged first."""
    log.debug("local backend error", exc_info=exc)
    exc.__traceback__ = None


def _free_memory() -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_reference(path: Path) -> Any:
    """A reference image as RGB, upright (EXIF orientation applied), transparency flattened onto
    white: VACE pads references onto a white canvas, so white is the neutral background."""
    from PIL import Image, ImageOps

    with Image.open(path) as raw:
        image = ImageOps.exif_transpose(raw)
        image.load()
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _set_flow_shift(loaded: LoadedPipeline, flow_shift: float | None) -> None:
    """Give the pipeline a fresh scheduler with this shot's flow shift.

    A fresh one per shot also resets the multistep scheduler's history, so a shot never depends on
    the one rendered before it. The worker for a device runs one shot at a time, so this is safe.
    """
    pipe = loaded.pipe
    config = dict(loaded.scheduler_config)
    if flow_shift is not None:
        if "flow_shift" in config:  # UniPC / DPM++ in flow mode, as the Wan checkpoints ship
            config["flow_shift"] = float(flow_shift)
        elif "shift" in config:  # FlowMatchEulerDiscreteScheduler
            config["shift"] = float(flow_shift)
        else:
            log.warning("scheduler %s has no flow shift; ignoring flow_shift", type(pipe.scheduler).__name__)
    pipe.scheduler = type(pipe.scheduler).from_config(config)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA/MPS out-of-memory, or a CPU allocation the machine cannot satisfy."""
    # torch.OutOfMemoryError is torch >= 2.5's name for torch.cuda.OutOfMemoryError.
    if isinstance(exc, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def generate(
    loaded: LoadedPipeline,
    request: Mapping[str, Any],
    reference_images: list[Any],
    on_step: Callable[[int, int], None],
    cancelled: threading.Event,
) -> np.ndarray:
    """Run the pipeline for one compiled request; return uint8 frames shaped (frames, height, width, 3).

    Raises :class:`Cancelled` when ``cancelled`` is set between denoising steps and
    :class:`BackendError` for out-of-memory (not retryable: the same shot would fail again).
    """
    pipe = loaded.pipe
    steps = int(request["steps"])
    _set_flow_shift(loaded, request.get("flow_shift"))

    def step_end(_pipe: Any, index: int, _timestep: Any, _tensors: dict) -> dict:
        if cancelled.is_set():
            raise Cancelled
        on_step(index + 1, steps)
        return {}

    # A CPU generator draws the same noise on every device, so a seed means the same start everywhere.
    generator = torch.Generator(device="cpu").manual_seed(int(request["seed"]))
    # Make this worker's device current, so kernels that consult it (attention backends, caching
    # allocators) agree with where the weights are on a multi-GPU machine.
    on_device = torch.cuda.device(loaded.key.device) if loaded.key.device.startswith("cuda") else nullcontext()
    try:
        with on_device:
            output = pipe(
                prompt=request["prompt"],
                negative_prompt=request.get("negative_prompt") or "",
                reference_images=reference_images or None,
                height=int(request["height"]),
                width=int(request["width"]),
                num_frames=int(request["num_frames"]),
                num_inference_steps=steps,
                guidance_scale=float(request["guidance_scale"]),
                generator=generator,
                output_type="pt",
                callback_on_step_end=step_end,
                callback_on_step_end_tensor_inputs=[],
            )
            video = output.frames[0]  # (frames, 3, height, width), floats in [0, 1], on the device
            frames = (video * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        drop_traceback(exc)
        raise BackendError(_oom_advice(loaded.key, request, exc), code="out_of_memory") from exc
    finally:
        # Whatever happened, leave the GPU as free as we found it for the next shot.
        if loaded.key.device.startswith("cuda"):
            with torch.cuda.device(loaded.key.device):
                torch.cuda.empty_cache()
    return np.ascontiguousarray(frames)


def _oom_advice(key: PipelineKey, request: Mapping[str, Any], exc: BaseException) -> str:
    size = f"{request['width']}x{request['height']}"
    advice = [
        f"render a smaller size (backends.local.sizes; {size} with {request['num_frames']} frames did not fit)",
        "or a shorter shot",
    ]
    if key.offload == "none" and key.device.startswith("cuda"):
        advice.append("or set backends.local.offload: model (keeps idle parts of the model in CPU memory)")
    elif key.offload == "model":
        advice.append("or set backends.local.offload: sequential (slowest, least GPU memory)")
    if key.dtype == "float32" and key.device.startswith("cuda"):
        advice.append("or set backends.local.dtype: bfloat16")
    return f"out of memory on {key.device} ({_first_line(exc)}); " + ", ".join(advice) + "."
