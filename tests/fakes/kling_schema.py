"""Omni-Video input rules, as Kling's API reference states them (Omni-Video, Create Task):

- ``model_name`` kling-video-o1 | kling-v3-omni; ``mode`` std | pro, **default pro**; ``aspect_ratio``
  16:9 | 9:16 | 1:1 ("required when NOT using first-frame reference or video editing"); ``duration`` a
  string "3".."15" (3-10 with a video: FAQ "Video Duration Support"); ``sound`` on | off, default off,
  "only off" with a reference video;
- ``multi_shot`` (default false): false makes ``shot_type``/``multi_prompt`` "invalid" and needs
  ``prompt``; true needs ``shot_type`` customize | intelligence — customize needs ``multi_prompt``
  ``[{index, prompt ≤ 512, duration: "n"}]`` (1-6, each ≥ 1, summing to ``duration``), intelligence
  needs ``prompt``; ``prompt`` at most 2500 characters;
- ``image_list[{image_url (URL or plain Base64), type?: first_frame|end_frame}]``; images + elements at
  most 7, at most 4 with a video; ``element_list[{element_id}]``; ``video_list[{video_url (URL),
  refer_type feature|base, keep_original_sound yes|no}]``, at most one;
- prompts mention ``<<<image_N>>>``, ``<<<element_N>>>``, ``<<<video_N>>>``;
- ``external_task_id`` "must be unique within a single user account".
Where the reference is silent the fake refuses (unknown fields, a mention of nothing, ``shot_type`` or
``multi_prompt`` sent with ``multi_shot: false``). Errors are ``(code, message)`` from the reference's
error table: 1201 for invalid parameters.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

FIELDS = {"model_name", "multi_shot", "shot_type", "prompt", "multi_prompt", "image_list", "element_list",
          "video_list", "sound", "mode", "aspect_ratio", "duration", "watermark_info", "callback_url",
          "external_task_id"}
_MENTION = re.compile(r"<<<(image|element|video)_(\d+)>>>")


class InputError(Exception):
    def __init__(self, message: str, code: int = 1201) -> None:
        super().__init__(message)
        self.code = code


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8


def _is_image(value: Any) -> bool:
    if _is_url(value):
        return True
    if not isinstance(value, str) or not value or value.startswith("data:"):  # "do not add any prefix"
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _duration(value: Any, lo: int, hi: int, what: str) -> int:
    if not isinstance(value, str) or not value.isdigit() or not lo <= int(value) <= hi:
        raise InputError(f"{what} must be a string from \"{lo}\" to \"{hi}\", not {value!r}")
    return int(value)


def validate(body: Any) -> dict[str, Any]:
    """The clip parameters (duration, aspect_ratio, sound, mode, seed) of a valid body; InputError otherwise."""
    if not isinstance(body, dict):
        raise InputError("request body must be a JSON object", 1200)
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InputError(f"unknown parameter {unknown[0]!r}")
    if body.get("model_name", "kling-video-o1") not in ("kling-video-o1", "kling-v3-omni"):
        raise InputError(f"model {body.get('model_name')!r} does not exist", 1203)
    mode = body.get("mode", "pro")
    if mode not in ("std", "pro"):
        raise InputError("mode must be std or pro")
    aspect = body.get("aspect_ratio")
    if aspect not in ("16:9", "9:16", "1:1"):
        raise InputError("aspect_ratio must be 16:9, 9:16 or 1:1")
    videos = body.get("video_list", [])
    if not isinstance(videos, list) or len(videos) > 1:
        raise InputError("video_list holds at most one video")
    for video in videos:
        if not isinstance(video, dict) or not _is_url(video.get("video_url")) \
                or video.get("refer_type", "base") not in ("feature", "base") \
                or video.get("keep_original_sound", "yes") not in ("yes", "no"):
            raise InputError("video_list items are {video_url (URL), refer_type feature|base, keep_original_sound yes|no}")
    duration = _duration(body.get("duration", "5"), 3, 10 if videos else 15, "duration")
    sound = body.get("sound", "off")
    if sound not in ("on", "off") or (videos and sound != "off"):
        raise InputError("sound must be on or off, and off with a reference video")
    images = body.get("image_list", [])
    if not isinstance(images, list) or not all(isinstance(i, dict) and _is_image(i.get("image_url"))
                                               and i.get("type", "first_frame") in ("first_frame", "end_frame")
                                               and set(i) <= {"image_url", "type"} for i in images):
        raise InputError("image_list items are {image_url: URL or Base64, type?: first_frame|end_frame}")
    elements = body.get("element_list", [])
    if len(images) + len(elements) > (4 if videos else 7):
        raise InputError(f"at most {4 if videos else 7} reference images and elements in all")
    texts = _prompts(body, duration)
    counts = {"image": len(images), "element": len(elements), "video": len(videos)}
    for text in texts:
        for kind, number in _MENTION.findall(text):
            if not 1 <= int(number) <= counts[kind]:
                raise InputError(f"<<<{kind}_{number}>>> refers to nothing ({counts[kind]} given)")
    return {"duration": duration, "aspect_ratio": aspect, "sound": sound == "on", "mode": mode, "seed": texts[0]}


def _prompts(body: dict[str, Any], duration: int) -> list[str]:
    prompt = body.get("prompt")
    if body.get("multi_shot", False) is not True:
        if "shot_type" in body or "multi_prompt" in body:
            raise InputError("shot_type and multi_prompt need multi_shot: true")
        texts = [prompt]
    elif body.get("shot_type") == "intelligence":
        texts = [prompt]
    elif body.get("shot_type") == "customize":
        shots = body.get("multi_prompt")
        if not isinstance(shots, list) or not 1 <= len(shots) <= 6:
            raise InputError("multi_prompt must hold 1 to 6 shots")
        total, texts = 0, []
        for i, shot in enumerate(shots, start=1):
            if not isinstance(shot, dict) or shot.get("index") != i or not isinstance(shot.get("prompt"), str) \
                    or len(shot["prompt"]) > 512:
                raise InputError(f"multi_prompt[{i - 1}] must be {{index: {i}, prompt (≤ 512), duration}}")
            total += _duration(shot.get("duration"), 1, duration, f"multi_prompt[{i - 1}].duration")
            texts.append(shot["prompt"])
        if total != duration:
            raise InputError(f"multi_prompt durations sum to {total}, not {duration}")
    else:
        raise InputError("shot_type must be customize or intelligence when multi_shot is true")
    if not all(isinstance(t, str) and t.strip() and len(t) <= 2500 for t in texts):
        raise InputError("prompt must be non-empty text of at most 2500 characters")
    return texts
