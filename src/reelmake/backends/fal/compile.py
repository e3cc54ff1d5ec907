"""fal.ai's request formats: Kling O3 reference-to-video (``kling-o3-fal``) and Seedance 2.0
reference-to-video (``seedance-2.0-reference``). Pure and torch-free.

Kling O3 on fal (fal.ai/docs/model-api-reference/video-generation-api/kling-video-o3-standard-reference-to-video):
a character becomes an *element* (``elements[{frontal_image_url, reference_image_urls}]``, mentioned as
``@Element1``…), an image asset goes to ``image_urls`` (mentioned as ``@Image1``…); ``prompt`` or
``multi_prompt`` (never both); ``generate_audio``; ``duration`` as a string "3".."15"; ``aspect_ratio``;
``start_image_url`` (a ``continue_from`` frame, "the start image" in the prompt).
A reference video goes to the separate ``…/video-to-video/reference`` route (the catalog's
``video_endpoint``) as ``video_url`` with ``keep_audio``, and is mentioned as ``@Video1`` (the O3
video-to-video pages' convention).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...jobs import Prompt, Reference, ShotSpec

MAX_ELEMENT_REFERENCES = 3  # KlingV3ComboElementInput: a frontal image and 1-3 reference images


def _start(shot: ShotSpec) -> str | None:
    """The start image (a ``continue_from`` frame) on the reference-to-video route, which has
    ``start_image_url``; the reference-video route has none, and takes the frame as an image."""
    return shot.frame.images[0] if shot.frame is not None and not shot.video else None


def _numbering(shot: ShotSpec) -> dict[str, str]:
    """Reference name → its mention on fal: characters ``@ElementN``, image assets ``@ImageN``,
    each kind numbered in the order the shot uses them; the start image is "the start image"."""
    out: dict[str, str] = {}
    elements = images = 0
    for ref in shot.references:
        if ref.kind == "frame" and _start(shot) is not None:
            out[ref.name] = "the start image"
        elif ref.kind == "character":
            elements += 1
            out[ref.name] = f"@Element{elements}"
        else:
            images += 1
            out[ref.name] = f"@Image{images}"
    return out


def kling_prompt(shot: ShotSpec, text: Prompt) -> str:
    numbering = _numbering(shot)
    return shot.text(text, lambda name: numbering.get(name, "@Video1"))  # the only other mention is the video


def _element(ref: Reference) -> dict[str, Any]:
    frontal, *others = ref.images
    # Validation allows at most 1 + MAX_ELEMENT_REFERENCES images per character on fal. With one image
    # the frontal image doubles as its reference, as fal does itself when none is given.
    return {"frontal_image_url": frontal, "reference_image_urls": others[:MAX_ELEMENT_REFERENCES] or [frontal]}


def kling_request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"aspect_ratio": shot.aspect_ratio, "duration": str(int(shot.duration))}
    if shot.segments:
        # KlingV3MultiPromptElement {prompt, duration}; the duration is a string like the top-level one.
        body["multi_prompt"] = [{"prompt": kling_prompt(shot, s.prompt), "duration": str(int(s.duration))}
                                for s in shot.segments]
        body["shot_type"] = "customize"
    else:
        body["prompt"] = kling_prompt(shot, shot.prompt)
    start = _start(shot)
    elements = [_element(ref) for ref in shot.references if ref.kind == "character"]
    images = [image for ref in shot.references if ref.kind != "character" and not (start and ref.kind == "frame")
              for image in ref.images]
    if start:
        body["start_image_url"] = start
    if elements:
        body["elements"] = elements
    if images:
        body["image_urls"] = images
    if shot.video:
        body["video_url"] = shot.video
        body["keep_audio"] = True if shot.keep_original_sound is None else shot.keep_original_sound
    else:
        body["generate_audio"] = shot.sound
    return body


def seedance_prompt(shot: ShotSpec, text: Prompt) -> str:
    """Seedance 2.0 numbers every image (fal: "Refer to them in the prompt as @Image1, @Image2");
    a character with several images is all of them."""
    numbering = shot.figures()

    def name(mention: str) -> str:
        numbers = [f"@Image{n}" for n in numbering.get(mention, [])]
        return " and ".join(numbers) if numbers else mention

    return shot.text(text, name)


def seedance_request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """bytedance/seedance-2.0/reference-to-video (fal.ai/models/bytedance/seedance-2.0/reference-to-video/llms.txt)."""
    body: dict[str, Any] = {
        "prompt": seedance_prompt(shot, shot.prompt),
        "image_urls": [image for image, _ in shot.images],
        "duration": str(int(shot.duration)),
        "aspect_ratio": shot.aspect_ratio,
        "resolution": "720p",  # the catalog's price is the 720p rate
        "generate_audio": shot.sound,
    }
    if shot.seed is not None:
        body["seed"] = shot.seed
    return body
