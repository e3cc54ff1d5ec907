"""Image model inputs and prices, as the fake WaveSpeed provider applies them.

Sources:
- [seedream] https://wavespeed.ai/models/bytedance/seedream-v4.5/llms.txt (``bytedance/seedream-v4.5``):
  ``prompt`` required; ``size`` "width*height", default "2048*2048", each side 64 to 16384; "$0.04 per
  generated image".
- [seedream-edit] https://wavespeed.ai/docs/docs-api/bytedance/bytedance-seedream-v4.5-edit
  (``bytedance/seedream-v4.5/edit``): ``images`` "1–10 images", ``prompt``, ``size``; "$0.04 per generated
  image".
- [bytedance] BytePlus's Seedream 4.5 reference (as novita.ai republishes it): "Total pixel range:
  [3686400, 16777216]". WaveSpeed does not repeat it; the fake enforces it (strict: a request the model
  would refuse must fail here first).
- [nano] https://wavespeed.ai/docs/docs-api/google/google-gemini-2.5-flash-image-text-to-image and
  ``…-edit``: ``prompt`` required, ``output_format`` jpeg (default) | png; the edit route requires
  ``images`` ("Up to 10 images"). No size input. Its price is not on the captured pages: $0.039 per image
  is fal's and Replicate's (NOT confirmed for WaveSpeed; the catalog flags it the same way).
Where the pages say nothing about the output: Seedream's is served as JPEG (a client must not assume
PNG), Nano Banana's in its ``output_format``, square 1024x1024.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .wavespeed_schema import PLATFORM_FIELDS, InputError, _is_url

SEEDREAM = "bytedance/seedream-v4.5"
SEEDREAM_EDIT = "bytedance/seedream-v4.5/edit"
NANO = "google/gemini-2.5-flash-image/text-to-image"
NANO_EDIT = "google/gemini-2.5-flash-image/edit"
PRICES = {SEEDREAM: Decimal("0.04"), SEEDREAM_EDIT: Decimal("0.04"), NANO: Decimal("0.039"),
          NANO_EDIT: Decimal("0.039")}
MODELS = frozenset(PRICES)
FIELDS = {SEEDREAM: {"prompt", "size"}, SEEDREAM_EDIT: {"prompt", "images", "size"},
          NANO: {"prompt", "output_format"}, NANO_EDIT: {"prompt", "images", "output_format"}}
EDIT = {SEEDREAM_EDIT, NANO_EDIT}


def ignored(model: str, body: dict[str, Any]) -> list[str]:
    return sorted(set(body) - FIELDS[model] - PLATFORM_FIELDS)


def validate(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """The inputs of a valid image request (with ``width``, ``height`` and ``format`` of its output)."""
    prompt = body.get("prompt")
    if prompt is None:
        raise InputError(1400, "missing required parameter: prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(1401, "prompt must be a non-empty string")
    images = body.get("images", [])
    if model in EDIT:
        if "images" not in body:
            raise InputError(1400, "missing required parameter: images")
        if not isinstance(images, list) or not 1 <= len(images) <= 10 or not all(_is_url(u) for u in images):
            raise InputError(1401, "images must be a list of 1 to 10 URLs")
    if model in (SEEDREAM, SEEDREAM_EDIT):
        size = body.get("size", "2048*2048")
        try:
            width, height = (int(v) for v in str(size).split("*"))
        except ValueError:
            raise InputError(1401, f"size must be width*height, not {size!r}") from None
        if not (64 <= width <= 16384 and 64 <= height <= 16384) or not 3686400 <= width * height <= 16777216:
            raise InputError(1401, f"size {size} is out of range")
        fmt = "jpeg"
    else:
        fmt = body.get("output_format", "jpeg")
        if fmt not in ("jpeg", "png"):
            raise InputError(1401, "output_format must be jpeg or png")
        width = height = 1024
    return {"prompt": prompt, "images": images, "width": width, "height": height, "format": fmt}


def price(model: str) -> Decimal:
    return PRICES[model]
