"""Kling O3 reference-to-video input rules and prices, as the fake WaveSpeed provider applies them.

Mirrors ``/work/shared/PROVIDERS.md`` (Kling O3 table) so compile bugs surface as the provider's own
1400/1401 rejections in tests instead of as silent successes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

STD = "kwaivgi/kling-video-o3-std/reference-to-video"
PRO = "kwaivgi/kling-video-o3-pro/reference-to-video"

# Per-second rates by pricing mode: (no video, no sound), (sound), (reference video).
RATES: dict[str, dict[str, Decimal]] = {
    STD: {"base": Decimal("0.084"), "sound": Decimal("0.112"), "video": Decimal("0.126")},
    PRO: {"base": Decimal("0.112"), "sound": Decimal("0.140"), "video": Decimal("0.168")},
}
MODELS = frozenset(RATES)

ASPECT_RATIOS = ("16:9", "9:16", "1:1")
SHOT_TYPES = ("intelligent", "customize")
MAX_PROMPT = 2500
MAX_IMAGES = 7
MAX_IMAGES_WITH_VIDEO = 4
# Request-level switches the platform accepts on every model; not part of the model's schema.
PLATFORM_FIELDS = frozenset({"enable_sync_mode", "enable_base64_output"})
FIELDS = frozenset(
    {"prompt", "images", "video", "keep_original_sound", "sound", "aspect_ratio", "duration", "shot_type", "multi_prompt"}
)


class InputError(Exception):
    """A rejected input: ``code`` is 1400 (missing parameter) or 1401 (invalid parameter)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(body: dict[str, Any]) -> dict[str, Any]:
    """Check a submit body against the Kling O3 schema; return it with defaults filled in."""
    unknown = set(body) - FIELDS - PLATFORM_FIELDS
    if unknown:
        raise InputError(1401, f"unknown parameter(s): {', '.join(sorted(unknown))}")
    if "prompt" not in body:
        raise InputError(1400, "missing required parameter: prompt")
    prompt = body["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(1401, "prompt must be a non-empty string")
    if len(prompt) > MAX_PROMPT:
        raise InputError(1401, f"prompt is {len(prompt)} characters; at most {MAX_PROMPT} are allowed")

    images = body.get("images", [])
    if not isinstance(images, list) or not all(_is_url(u) for u in images):
        raise InputError(1401, "images must be a list of URLs")
    video = body.get("video")
    if video is not None and not _is_url(video):
        raise InputError(1401, "video must be a URL")
    if not images and video is None:
        raise InputError(1400, "missing required parameter: images (or video)")
    limit = MAX_IMAGES_WITH_VIDEO if video is not None else MAX_IMAGES
    if len(images) > limit:
        raise InputError(1401, f"{len(images)} images given; at most {limit} are allowed" + (" with a video" if video else ""))

    for flag in ("sound", "keep_original_sound"):
        if flag in body and not isinstance(body[flag], bool):
            raise InputError(1401, f"{flag} must be a boolean")
    aspect = body.get("aspect_ratio", "16:9")
    if aspect not in ASPECT_RATIOS:
        raise InputError(1401, f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}, not {aspect!r}")
    duration = body.get("duration", 5)
    if not _is_int(duration) or not 3 <= duration <= 15:
        raise InputError(1401, f"duration must be an integer from 3 to 15, not {duration!r}")
    shot_type = body.get("shot_type", "intelligent")
    if shot_type not in SHOT_TYPES:
        raise InputError(1401, f"shot_type must be one of {', '.join(SHOT_TYPES)}, not {shot_type!r}")

    multi = body.get("multi_prompt")
    if multi is not None:
        if not isinstance(multi, list) or not 1 <= len(multi) <= 6:
            raise InputError(1401, "multi_prompt must be a list of 1 to 6 segments")
        total = 0
        for i, seg in enumerate(multi):
            if not isinstance(seg, dict) or set(seg) != {"prompt", "duration"}:
                raise InputError(1401, f"multi_prompt[{i}] must be {{prompt, duration}}")
            if not isinstance(seg["prompt"], str) or not seg["prompt"].strip():
                raise InputError(1401, f"multi_prompt[{i}].prompt must be a non-empty string")
            if not _is_int(seg["duration"]) or seg["duration"] < 1:
                raise InputError(1401, f"multi_prompt[{i}].duration must be an integer of at least 1")
            total += seg["duration"]
        if total != duration:
            raise InputError(1401, f"multi_prompt durations sum to {total}, not the duration {duration}")

    return {
        **body,
        "images": images,
        "sound": body.get("sound", False),
        "aspect_ratio": aspect,
        "duration": duration,
        "shot_type": shot_type,
    }


def mode(inputs: dict[str, Any]) -> str:
    """The pricing mode of validated inputs: ``video`` beats ``sound`` beats ``base``."""
    if inputs.get("video"):
        return "video"
    return "sound" if inputs.get("sound") else "base"


def price(model: str, inputs: dict[str, Any]) -> Decimal:
    """Exact charge in USD for validated inputs."""
    return RATES[model][mode(inputs)] * inputs["duration"]
