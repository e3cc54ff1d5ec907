"""The animatic's request format: everything it draws, so its render key stays honest. Pure.

Mentions are written as plain names (the thumbnails are labelled "Figure N · name", so the preview
matches what a hosted model will be told).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...jobs import ImageSpec, Prompt, ShotSpec

# Bump when the animatic draws differently, so cached previews are drawn again.
LOOK = 3  # 3: the take number is drawn beside the shot id
IMAGE_LOOK = 1  # likewise for the stills that stand in for generated images
DEFAULT_IMAGE_SIZE = (1024, 1024)


def prompt(shot: ShotSpec, text: Prompt) -> str:
    return shot.text(text, lambda name: name)


def request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    width, height = model.size_for(shot.aspect_ratio) or (1280, 720)
    return {
        "look": LOOK,
        "shot": shot.shot,
        "take": shot.take,
        "prompt": prompt(shot, shot.prompt),
        "duration": float(shot.duration),
        "aspect_ratio": shot.aspect_ratio,
        "width": width,
        "height": height,
        "fps": model.limit("fps", default=24),
        "images": [image for image, _ in shot.images],
        "labels": [name for _, name in shot.images],
        "video": shot.video,
        "sound": shot.sound,
        "segments": [{"prompt": prompt(shot, s.prompt), "duration": s.duration} for s in shot.segments],
    }


def image_prompt(image: ImageSpec, text: Prompt) -> str:
    return ImageSpec(image.name, image.subject, text, image.references).text(lambda name: name)


def image_request(image: ImageSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """A still card standing in for a generated image: its name, what the image model would be told,
    and its references (the first full-frame, the others as labelled thumbnails), at the size asked for."""
    width, height = (image.width, image.height) if image.width and image.height else DEFAULT_IMAGE_SIZE
    return {
        "look": IMAGE_LOOK,
        "image": image.name,
        "take": image.take,
        "prompt": image.text(lambda name: name),
        "width": width,
        "height": height,
        "images": [ref for ref, _ in image.images],
        "labels": [name for _, name in image.images],
    }
