"""Wan 2.1 VACE's request format (``wan-vace``). Pure and torch-free.

A text encoder cannot see figure numbers, so ``@maya`` becomes ``maya (young woman, …)`` at its first
mention and ``maya`` after that (``ShotSpec.described``). Every setting that changes the pixels (size,
steps, guidance, flow shift, seed, the checkpoint as written) is part of the request, so it is part of
the render key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ...jobs import ShotSpec
from .settings import num_frames_for


def default_seed(shot_id: str) -> int:
    """A stable per-shot seed, so unseeded shots are reproducible yet differ from each other."""
    return int(hashlib.sha256(shot_id.encode()).hexdigest()[:8], 16) % (2**31)


def request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    size = (settings.get("sizes") or {}).get(shot.aspect_ratio)
    width, height = (int(v) for v in size.split("x")) if size else (model.size_for(shot.aspect_ratio) or (832, 480))
    fps = int(settings.get("fps", model.limit("fps", default=16)))
    body = {
        "prompt": shot.described(shot.prompt),
        "negative_prompt": "",
        "reference_images": [image for image, _ in shot.images],
        "width": width,
        "height": height,
        "num_frames": num_frames_for(shot.duration, fps),
        "fps": fps,
        "duration": float(shot.duration),
        "steps": int(settings.get("steps", model.limit("steps", default=30))),
        "guidance_scale": float(settings.get("guidance_scale", model.limit("guidance_scale", default=5.0))),
        "flow_shift": float(settings.get("flow_shift", model.limit("flow_shift", default=3.0))),
        # Each take its own seed (take 1 keeps the shot's), so takes are distinct generations.
        "seed": ((shot.seed if shot.seed is not None else default_seed(shot.shot)) + shot.take - 1) % 2**32,
        # As written in the storyboard (a hub id or a path relative to it), so keys match across machines.
        "model": settings.get("model_path", model.endpoint),
    }
    if "dtype" in settings:  # unset: bfloat16 on GPU, float32 on CPU, chosen by the backend
        body["dtype"] = settings["dtype"]
    return body
