"""WaveSpeed's request format for Kling Video O3 reference-to-video (``kling-o3``).

Reference images go into ``images`` in the shot's order; each ``@name`` becomes "Figure N" (one
image) or "Figures N and M" (a character with several), following the model's documented
convention ("the man in Figure 2 …"); the style is appended. Torch-free and pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...jobs import Prompt, ShotSpec


def _figures(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"Figure {numbers[0]}"
    head = ", ".join(str(n) for n in numbers[:-1])
    return f"Figures {head} and {numbers[-1]}"


def prompt(shot: ShotSpec, text: Prompt) -> str:
    numbering = shot.figures()

    def name(mention: str) -> str:
        if mention in numbering:
            return _figures(numbering[mention])
        return "the reference video"  # the only other mention validation allows

    return shot.text(text, name)


def request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": prompt(shot, shot.prompt),
        "images": [image for image, _ in shot.images],
        "sound": shot.sound,
        "aspect_ratio": shot.aspect_ratio,
        "duration": int(shot.duration),
        "shot_type": shot.shot_type,
    }
    if shot.video:
        body["video"] = shot.video
        body["keep_original_sound"] = True if shot.keep_original_sound is None else shot.keep_original_sound
    if shot.segments:
        body["multi_prompt"] = [{"prompt": prompt(shot, s.prompt), "duration": int(s.duration)}
                                for s in shot.segments]
    return body
