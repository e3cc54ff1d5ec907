"""WaveSpeed's request format for its image models (``wavespeed-image``): Seedream 4.5 and Nano Banana
(Gemini 2.5 Flash Image). Pure and torch-free.

Both take ``prompt`` and, on their edit routes (the catalog's ``edit_endpoint``), ``images`` (1 to 10
URLs); Seedream takes ``size`` as ``"W*H"`` (wavespeed.ai/models/bytedance/seedream-v4.5/llms.txt), Nano
Banana no size but an ``output_format`` (wavespeed.ai/docs/docs-api/google/google-gemini-2.5-flash-image-edit).
Neither documents a way to name its input images in the prompt, so a mention becomes "image N" (the
phrasing WaveSpeed's Seedream edit examples use); the subject (the character's or asset's description)
leads the prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...jobs import ImageSpec, Prompt


def _mention(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"image {numbers[0]}"
    return "images " + ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]}"


def prompt(image: ImageSpec, text: Prompt) -> str:
    numbering = image.figures()
    spec = ImageSpec(image.name, image.subject, text, image.references)
    return spec.text(lambda name: _mention(numbering[name]) if name in numbering else name)


def request(image: ImageSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt(image, image.prompt)}
    if image.references:
        body["images"] = [ref for ref, _ in image.images]
    field = model.limit("image_size", "field")
    if field and image.width and image.height:
        body[field] = f"{image.width}*{image.height}"
    output_format = model.limit("output_format")
    if output_format:
        body["output_format"] = output_format
    return body
