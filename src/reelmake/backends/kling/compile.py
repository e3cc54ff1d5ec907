"""Kling's own Omni-Video request format (``kling-omni``). Pure and torch-free.

From Kling's API reference (Omni-Video, ``POST /v1/videos/omni-video``):
- the prompt mentions ``<<<image_N>>>`` (``image_list`` order), ``<<<element_N>>>`` and ``<<<video_N>>>``;
  a character's images go to ``image_list`` in the shot's order, because Kling's elements are ids of
  an account's element library (``element_list[{element_id}]``), not images a request can carry;
- ``video_list[{video_url, refer_type, keep_original_sound: "yes"|"no"}]``: ``feature`` makes the video a
  reference (``base`` would edit it); with a video, ``sound`` can only be ``off``;
- a ``continue_from`` frame is the first ``image_list`` item, with ``type: first_frame``;
- ``multi_shot``: with ``shot_type: customize`` the shot is the ``multi_prompt`` segments
  ``{index, prompt, duration: "n"}``; with ``shot_type: intelligence`` (Kling's spelling) Kling cuts the
  prompt into shots itself; without it, one shot;
- ``mode`` defaults to ``pro`` (the dearer one), so the offer's mode is always sent; ``duration`` is a
  string; ``model_name`` comes from the catalog offer.
``external_task_id`` is added at submit time: it names the attempt, not the pixels, so it stays out of
the request and the render key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...jobs import Prompt, ShotSpec


def _mentions(numbers: list[int]) -> str:
    tags = [f"<<<image_{n}>>>" for n in numbers]
    return tags[0] if len(tags) == 1 else ", ".join(tags[:-1]) + f" and {tags[-1]}"


def prompt(shot: ShotSpec, text: Prompt) -> str:
    numbering = shot.figures()
    return shot.text(text, lambda name: _mentions(numbering[name]) if name in numbering else "<<<video_1>>>")


def request(shot: ShotSpec, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": model.limit("model_name", default="kling-v3-omni"),
        "mode": model.limit("mode", default="std"),
        "aspect_ratio": shot.aspect_ratio,
        "duration": str(int(shot.duration)),
        "sound": "on" if shot.sound and not shot.video else "off",
    }
    if shot.segments:
        body.update(multi_shot=True, shot_type="customize",
                    multi_prompt=[{"index": i, "prompt": prompt(shot, s.prompt), "duration": str(int(s.duration))}
                                  for i, s in enumerate(shot.segments, start=1)])
    elif shot.shot_type == "intelligent":
        body.update(multi_shot=True, shot_type="intelligence", prompt=prompt(shot, shot.prompt))
    else:
        body.update(multi_shot=False, prompt=prompt(shot, shot.prompt))
    if shot.images:
        body["image_list"] = [{"image_url": image} for image, _ in shot.images]
        if shot.frame is not None:  # continue_from: the first frame Kling starts the clip from
            body["image_list"][0]["type"] = "first_frame"
    if shot.video:
        keep = True if shot.keep_original_sound is None else shot.keep_original_sound
        body["video_list"] = [{"video_url": shot.video, "refer_type": "feature",
                               "keep_original_sound": "yes" if keep else "no"}]
    return body
