"""WaveSpeed's request formats for its other reference-to-video models (Kling O3 is ``compile``).

Neither Veo nor Wan numbers its reference images in the prompt, so ``@maya`` becomes ``maya (young
woman, …)`` at its first mention and ``maya`` after that (``ShotSpec.described``), and the images go to
``images`` in the shot's order. Pure and torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...jobs import ShotSpec


def veo_request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """google/veo3.1(-fast)/reference-to-video (wavespeed.ai/models/google/veo3.1-fast/reference-to-video/llms.txt):
    ``prompt``, ``images`` (1 to 3), ``aspect_ratio`` (16:9, 9:16), ``generate_audio``; the clip is always
    8 s, so no duration is sent."""
    return {
        "prompt": shot.described(shot.prompt),
        "images": [image for image, _ in shot.images],
        "aspect_ratio": shot.aspect_ratio,
        "generate_audio": shot.sound,
    }


def wan3_request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """alibaba/wan-3.0/reference-to-video. Field names follow WaveSpeed's Wan 3.0 example (prompt,
    resolution, aspect_ratio, duration, enable_prompt_expansion, enable_audio, seed) plus ``images``
    (unconfirmed, see the catalog). Prompt expansion is off so the prompt is rendered as written."""
    body: dict[str, Any] = {
        "prompt": shot.described(shot.prompt),
        "images": [image for image, _ in shot.images],
        "aspect_ratio": shot.aspect_ratio,
        "duration": int(shot.duration),
        "resolution": "720p",
        "enable_audio": shot.sound,
        "enable_prompt_expansion": False,
    }
    if shot.seed is not None:
        body["seed"] = shot.seed
    return body
