"""Input rules of the fal endpoints the fake serves, from fal's API references:

- Kling O3 reference-to-video (fal.ai/docs/model-api-reference/video-generation-api/kling-video-o3-standard-reference-to-video,
  -pro-, and fal.ai/models/fal-ai/kling-video/o3/4k/reference-to-video/llms.txt): ``prompt`` *or* ``multi_prompt``
  ("Either prompt or multi_prompt must be provided, but not both"), ``image_urls`` (@Image1…), ``elements``
  (@Element1…), ``generate_audio``, ``duration`` "3".."15" (a string), ``shot_type``, ``aspect_ratio``
  16:9 | 9:16 | 1:1, ``start_image_url``/``end_image_url``; elements + images at most 7 (4K: 7 as well).
- Kling O3 video-to-video (the O3 edit page, fal.ai/models/fal-ai/kling-video/o3/pro/video-to-video/edit/llms.txt):
  ``prompt`` required (the video is @Video1), ``video_url`` required, ``image_urls``, ``elements``,
  ``keep_audio``; "Maximum 4 total (elements + reference images) when using video". The reference route's
  own page was not captured: ``duration`` and ``aspect_ratio`` are accepted (Kling supports them for a
  feature reference), ``multi_prompt`` and ``generate_audio`` are not (strict: the docs do not show them).
- Seedance 2.0 reference-to-video (fal.ai/models/bytedance/seedance-2.0/reference-to-video/llms.txt):
  ``prompt`` required (@Image1, @Video1, @Audio1), up to 9 ``image_urls``, 3 ``video_urls``, 3
  ``audio_urls``, 12 files in all; ``duration`` "auto" or "4".."15"; ``resolution``; ``aspect_ratio``;
  ``generate_audio``; ``seed``.
Where the pages are silent the fake refuses (unknown fields included): a request fal might bill and
then fail must fail here first. Errors are fal's model-error shape: ``[{loc, msg, type}]``.
"""

from __future__ import annotations

import re
from typing import Any

KLING_R2V = {"fal-ai/kling-video/o3/standard/reference-to-video", "fal-ai/kling-video/o3/pro/reference-to-video",
             "fal-ai/kling-video/o3/4k/reference-to-video"}
KLING_V2V = {"fal-ai/kling-video/o3/standard/video-to-video/reference", "fal-ai/kling-video/o3/pro/video-to-video/reference"}
SEEDANCE = {"bytedance/seedance-2.0/reference-to-video"}
ENDPOINTS = KLING_R2V | KLING_V2V | SEEDANCE

KLING_FIELDS = {"prompt", "multi_prompt", "start_image_url", "end_image_url", "image_urls", "elements",
                "generate_audio", "duration", "shot_type", "aspect_ratio"}
V2V_FIELDS = {"prompt", "video_url", "image_urls", "elements", "keep_audio", "duration", "aspect_ratio"}
SEEDANCE_FIELDS = {"prompt", "image_urls", "video_urls", "audio_urls", "resolution", "duration", "generate_audio",
                   "aspect_ratio", "seed"}
_MENTION = re.compile(r"@(Element|Image|Video|Audio)(\d+)")


class InputError(Exception):
    def __init__(self, field: str, message: str, kind: str = "value_error") -> None:
        super().__init__(message)
        self.detail = [{"loc": ["body", field], "msg": message, "type": kind}]


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8


def _urls(body: dict[str, Any], field: str, most: int) -> list[str]:
    values = body.get(field, [])
    if not isinstance(values, list) or not all(_url(v) for v in values):
        raise InputError(field, f"{field} must be a list of URLs")
    if len(values) > most:
        raise InputError(field, f"at most {most} {field}")
    return values


def _duration(body: dict[str, Any], lo: int, hi: int, *, auto: bool = False) -> int:
    value = body.get("duration", "5")
    if auto and value == "auto":
        return 5
    if not isinstance(value, str) or not value.isdigit() or not lo <= int(value) <= hi:
        raise InputError("duration", f"duration must be a string from \"{lo}\" to \"{hi}\", not {value!r}")
    return int(value)


def _mentions(texts: list[str], counts: dict[str, int]) -> None:
    for text in texts:
        for kind, number in _MENTION.findall(text):
            if int(number) < 1 or int(number) > counts.get(kind, 0):
                raise InputError("prompt", f"@{kind}{number} refers to nothing ({counts.get(kind, 0)} given)")


def _elements(body: dict[str, Any]) -> list[dict[str, Any]]:
    elements = body.get("elements", [])
    if not isinstance(elements, list):
        raise InputError("elements", "elements must be a list")
    for i, element in enumerate(elements):
        refs = element.get("reference_image_urls") if isinstance(element, dict) else None
        if not isinstance(element, dict) or set(element) != {"frontal_image_url", "reference_image_urls"} \
                or not _url(element["frontal_image_url"]) or not isinstance(refs, list) \
                or not 1 <= len(refs) <= 3 or not all(_url(r) for r in refs):
            raise InputError("elements", f"elements[{i}] must be {{frontal_image_url, reference_image_urls (1-3)}}")
    return elements


def validate(endpoint: str, body: Any) -> dict[str, Any]:
    """The clip parameters (duration, aspect_ratio, sound) of a valid request; InputError otherwise."""
    if not isinstance(body, dict):
        raise InputError("body", "the body must be a JSON object")
    allowed = KLING_FIELDS if endpoint in KLING_R2V else V2V_FIELDS if endpoint in KLING_V2V else SEEDANCE_FIELDS
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InputError(unknown[0], f"unexpected field {unknown[0]!r}", "extra_forbidden")
    aspect = body.get("aspect_ratio", "16:9")
    if endpoint in SEEDANCE:
        return _seedance(body, aspect)
    if aspect not in ("16:9", "9:16", "1:1"):
        raise InputError("aspect_ratio", f"aspect_ratio must be 16:9, 9:16 or 1:1, not {aspect!r}")
    elements, images = _elements(body), _urls(body, "image_urls", 7)
    video = endpoint in KLING_V2V
    if len(elements) + len(images) > (4 if video else 7):
        raise InputError("image_urls", f"at most {4 if video else 7} elements and reference images in all")
    duration = _duration(body, 3, 10 if video else 15)
    multi = body.get("multi_prompt")
    if video:
        if not _url(body.get("video_url")):
            raise InputError("video_url", "video_url is required")
        if not isinstance(body.get("keep_audio", True), bool):
            raise InputError("keep_audio", "keep_audio must be a boolean")
    if ("prompt" in body) == (multi is not None):
        raise InputError("prompt", "either prompt or multi_prompt must be provided, but not both")
    texts = [body["prompt"]] if "prompt" in body else []
    if multi is not None:
        if not isinstance(multi, list) or not 1 <= len(multi) <= 6:
            raise InputError("multi_prompt", "multi_prompt must hold 1 to 6 shots")
        total = 0
        for i, shot in enumerate(multi):
            if not isinstance(shot, dict) or set(shot) != {"prompt", "duration"} or not isinstance(shot["prompt"], str):
                raise InputError("multi_prompt", f"multi_prompt[{i}] must be {{prompt, duration}}")
            total += _duration(shot, 1, 15)
            texts.append(shot["prompt"])
        if total != duration:
            raise InputError("multi_prompt", f"multi_prompt durations sum to {total}, not {duration}")
        if body.get("shot_type", "customize") != "customize":
            raise InputError("shot_type", "shot_type must be customize with multi_prompt")
    elif "shot_type" in body:
        raise InputError("shot_type", "shot_type only applies to multi_prompt")
    if not all(isinstance(t, str) and t.strip() and len(t) <= 2500 for t in texts):
        raise InputError("prompt", "prompts must be non-empty text of at most 2500 characters")
    _mentions(texts, {"Element": len(elements), "Image": len(images), "Video": 1 if video else 0})
    sound = body.get("generate_audio", False)
    if not isinstance(sound, bool):
        raise InputError("generate_audio", "generate_audio must be a boolean")
    return {"duration": duration, "aspect_ratio": aspect, "sound": sound and not video, "seed": texts[0]}


def _seedance(body: dict[str, Any], aspect: str) -> dict[str, Any]:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt", "prompt is required")
    images, videos, audios = _urls(body, "image_urls", 9), _urls(body, "video_urls", 3), _urls(body, "audio_urls", 3)
    if len(images) + len(videos) + len(audios) > 12:
        raise InputError("image_urls", "at most 12 files across all modalities")
    if aspect not in ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"):
        raise InputError("aspect_ratio", f"unknown aspect_ratio {aspect!r}")
    if body.get("resolution", "720p") not in ("480p", "720p", "1080p"):
        raise InputError("resolution", "resolution must be 480p, 720p or 1080p")
    duration = _duration(body, 4, 15, auto=True)
    _mentions([prompt], {"Image": len(images), "Video": len(videos), "Audio": len(audios)})
    sound = body.get("generate_audio", True)
    return {"duration": duration, "aspect_ratio": aspect if aspect in ("16:9", "9:16", "1:1") else "16:9",
            "sound": bool(sound), "seed": prompt}
