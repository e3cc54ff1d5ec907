"""Wan 2.1 VACE on this machine's GPUs through diffusers (the ``local`` extra): the plugin object.

Nothing imported here needs torch: validating and planning a local storyboard work without the
extra; only a render checks for it (``preflight``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...jobs import ShotSpec
from ...plugins import BackendPlugin, RequestFormat, SettingProblem
from . import compile as wan
from .settings import (
    DTYPES,
    OFFLOAD_MODES,
    environment_problems,
    looks_like_local_path,
    resolve_local_path,
    settings_problems,
)

_SIZE = {"type": "string", "pattern": "^[1-9][0-9]*x[1-9][0-9]*$"}

SCHEMA: dict[str, Any] = {
    "title": "Local Wan 2.1 VACE settings",
    "description": "Settings for rendering with Wan 2.1 VACE on this machine (pip install 'reelmake[local]').",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_concurrency": {"type": "integer", "minimum": 1,
                            "description": "Shots rendering at once (default 1); each device renders one at a time, "
                                           "so give one per entry of `devices`."},
        "timeout": {"type": "number", "exclusiveMinimum": 0,
                    "description": "Seconds a shot may take (default: no limit)."},
        "model_path": {"type": "string", "description": "A diffusers checkpoint: a directory (relative to the "
                                                          "storyboard, or absolute) or a Hugging Face hub id."},
        "device": {"type": "string", "description": "cuda, cuda:N, mps or cpu (default: cuda when available, else cpu)."},
        "devices": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                    "description": "Several devices, one worker each, e.g. [cuda:0, cuda:1]."},
        "dtype": {"enum": list(DTYPES),
                  "description": "Transformer precision: bfloat16 (default on cuda), float16, or float32 (default "
                                 "elsewhere; twice the memory)."},
        "steps": {"type": "integer", "minimum": 1,
                  "description": "Denoising steps: more is slower and finer (default 30)."},
        "guidance_scale": {"type": "number", "minimum": 0,
                           "description": "Classifier-free guidance: how closely the picture follows the prompt "
                                          "(default 5.0)."},
        "flow_shift": {"type": "number", "exclusiveMinimum": 0,
                       "description": "Scheduler shift: 3.0 for 480p, 5.0 for 720p (default: the model's, in the "
                                      "catalog)."},
        "fps": {"type": "integer", "minimum": 1,
                "description": "Frames per second generated (default 16, what Wan was trained on)."},
        "sizes": {"type": "object", "propertyNames": {"enum": ["16:9", "9:16", "1:1"]},
                  "additionalProperties": _SIZE,
                  "description": "Render size in pixels per aspect ratio, WIDTHxHEIGHT in multiples of 16, "
                                 "e.g. {\"16:9\": 832x480} (default: the model's, in the catalog)."},
        "offload": {"enum": list(OFFLOAD_MODES),
                    "description": "Keep parts of the model in CPU memory to fit smaller GPUs: none (default, "
                                   "fastest), model (moves whole components in turn), sequential (least GPU memory, "
                                   "slowest)."},
    },
}


def _check(settings: Mapping[str, Any], base_dir: Path) -> list[SettingProblem]:
    return [SettingProblem(key, message) for key, message in settings_problems(settings)]


def _environment(settings: Mapping[str, Any], base_dir: Path) -> list[SettingProblem]:
    return [SettingProblem(key, message, warning) for key, message, warning in environment_problems(settings, base_dir)]


def _runtime(settings: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """``model_path`` made absolute against the storyboard's directory (keys keep it as written)."""
    out = dict(settings)
    if isinstance(out.get("model_path"), str) and looks_like_local_path(out["model_path"], base_dir):
        out["model_path"] = str(resolve_local_path(out["model_path"], base_dir))
    return out


def _create(settings: Mapping[str, Any], folder: Path) -> Any:
    from .backend import LocalWanBackend

    return LocalWanBackend(settings, folder)


plugin = BackendPlugin(
    name="local",
    remote=False,
    factory=_create,
    compilers={"wan-vace": RequestFormat(ShotSpec.described, wan.request)},
    settings_schema=SCHEMA,
    check_settings=_check,
    environment=_environment,
    runtime_settings=_runtime,
    description="Wan 2.1 VACE on your own GPUs (pip install 'reelmake[local]')",
    gpu=True,
)
