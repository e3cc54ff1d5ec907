"""Kling O3 reference-to-video inputs and prices, as the fake WaveSpeed provider applies them.

Every rule names its source. Where the documentation is silent the fake takes the side that costs
the user money: an input it does not know is accepted, ignored and billed (as a server that passes
the body through would), and counted so tests can prove our client never sends one.

Sources:
- [std] https://wavespeed.ai/docs/docs-api/kwaivgi/kwaivgi-kling-video-o3-std-reference-to-video
  (parameters: prompt required; video, images, keep_original_sound (default on), sound (default off),
  aspect_ratio, duration 3–15 optional; "Multi-prompt support")
- [pro] https://wavespeed.ai/docs/docs-api/kwaivgi/kwaivgi-kling-video-o3-pro-reference-to-video
  ("up to 7 reference images (or up to 4 with a reference video)"; aspect 16:9 default, 9:16, 1:1;
  duration 3–15, default 5; sound "only when no reference video")
- [kling] Kling's own omni-video API (PROVIDERS.md): prompt ≤ 2500 characters, multi_prompt 1–6
  segments, each prompt ≤ 512 characters, durations summing to the total; shot_type values.
- [prices] WaveSpeed model pages: Std $0.084/s, $0.112/s with sound, $0.126/s with a reference video;
  Pro $0.112/s and $0.140/s with sound (confirmed, issue 11); Pro's reference-video rate $0.168/s is
  NOT confirmed anywhere (the catalog flags it the same way).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

STD = "kwaivgi/kling-video-o3-std/reference-to-video"
PRO = "kwaivgi/kling-video-o3-pro/reference-to-video"

# Per-second rates by pricing mode [prices].
RATES: dict[str, dict[str, Decimal]] = {
    STD: {"base": Decimal("0.084"), "sound": Decimal("0.112"), "video": Decimal("0.126")},
    PRO: {"base": Decimal("0.112"), "sound": Decimal("0.140"), "video": Decimal("0.168")},
}
VIDEO_MODELS = frozenset(RATES)
# Every model the fake serves: Kling O3, and the image models of ``wavespeed_images``.
MODELS = VIDEO_MODELS | {"bytedance/seedream-v4.5", "bytedance/seedream-v4.5/edit",
                         "google/gemini-2.5-flash-image/text-to-image", "google/gemini-2.5-flash-image/edit"}

ASPECT_RATIOS = ("16:9", "9:16", "1:1")  # [pro]
SHOT_TYPES = ("intelligent", "customize")  # PROVIDERS.md (WaveSpeed's spelling, not Kling's "intelligence")
MAX_PROMPT = 2500  # [kling]
MAX_SEGMENT_PROMPT = 512  # [kling]
MAX_SEGMENTS = 6  # [kling]
MAX_IMAGES = 7  # [pro]
MAX_IMAGES_WITH_VIDEO = 4  # [pro]
# Request switches every WaveSpeed model takes (the SDK's enable_sync_mode, wavespeed 2.0.5
# src/wavespeed/api/client.py Client._submit); not part of the model's own parameters.
PLATFORM_FIELDS = frozenset({"enable_sync_mode", "enable_base64_output"})
FIELDS = frozenset(
    {"prompt", "images", "video", "keep_original_sound", "sound", "aspect_ratio", "duration", "shot_type", "multi_prompt"}
)


class InputError(Exception):
    """A rejected input: ``code`` is 1400 (missing parameter) or 1401 (invalid parameter), the codes of
    https://wavespeed.ai/docs/error-codes."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def ignored(body: dict[str, Any], model: str | None = None) -> list[str]:
    """Fields the model does not know: silently ignored (and still billed), never an error."""
    from . import wavespeed_images as images

    if model in images.MODELS:
        return images.ignored(model, body)
    return sorted(set(body) - FIELDS - PLATFORM_FIELDS)


def validate(body: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """Check a submit body against the model's parameters (Kling O3's, or an image model's: see
    ``wavespeed_images``); return the known inputs with defaults."""
    from . import wavespeed_images as images

    if model in images.MODELS:
        return images.validate(model, body)
    if "prompt" not in body:
        raise InputError(1400, "missing required parameter: prompt")  # [std] "prompt: Yes"
    prompt = body["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(1401, "prompt must be a non-empty string")
    if len(prompt) > MAX_PROMPT:
        raise InputError(1401, f"prompt is {len(prompt)} characters; at most {MAX_PROMPT} are allowed")

    # [std]: images and video are optional, so a prompt alone is a valid request.
    images = body.get("images", [])
    if not isinstance(images, list) or not all(_is_url(u) for u in images):
        raise InputError(1401, "images must be a list of URLs")
    video = body.get("video")
    if video is not None and not _is_url(video):
        raise InputError(1401, "video must be a URL")
    limit = MAX_IMAGES_WITH_VIDEO if video is not None else MAX_IMAGES
    if len(images) > limit:
        raise InputError(1401, f"{len(images)} images given; at most {limit} are allowed" + (" with a video" if video else ""))

    for flag in ("sound", "keep_original_sound"):
        if flag in body and not isinstance(body[flag], bool):
            raise InputError(1401, f"{flag} must be a boolean")
    aspect = body.get("aspect_ratio", "16:9")
    if aspect not in ASPECT_RATIOS:
        raise InputError(1401, f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}, not {aspect!r}")
    # [std]/[pro]: 3–15 s, also with a reference video (the price table lists 15 s with one).
    duration = body.get("duration", 5)
    if not _is_int(duration) or not 3 <= duration <= 15:
        raise InputError(1401, f"duration must be an integer from 3 to 15, not {duration!r}")
    shot_type = body.get("shot_type", "intelligent")
    if shot_type not in SHOT_TYPES:
        raise InputError(1401, f"shot_type must be one of {', '.join(SHOT_TYPES)}, not {shot_type!r}")

    multi = body.get("multi_prompt")
    if multi is not None:
        # Item shape {prompt, duration} is fal's and not confirmed on WaveSpeed (PROVIDERS.md); limits are Kling's.
        if not isinstance(multi, list) or not 1 <= len(multi) <= MAX_SEGMENTS:
            raise InputError(1401, f"multi_prompt must be a list of 1 to {MAX_SEGMENTS} segments")
        total = 0
        for i, seg in enumerate(multi):
            if not isinstance(seg, dict) or set(seg) != {"prompt", "duration"}:
                raise InputError(1401, f"multi_prompt[{i}] must be {{prompt, duration}}")
            if not isinstance(seg["prompt"], str) or not seg["prompt"].strip():
                raise InputError(1401, f"multi_prompt[{i}].prompt must be a non-empty string")
            if len(seg["prompt"]) > MAX_SEGMENT_PROMPT:
                raise InputError(1401, f"multi_prompt[{i}].prompt is {len(seg['prompt'])} characters; at most "
                                       f"{MAX_SEGMENT_PROMPT} are allowed")
            if not _is_int(seg["duration"]) or seg["duration"] < 1:
                raise InputError(1401, f"multi_prompt[{i}].duration must be an integer of at least 1")
            total += seg["duration"]
        if total != duration:
            raise InputError(1401, f"multi_prompt durations sum to {total}, not the duration {duration}")

    known = {k: v for k, v in body.items() if k in FIELDS}
    return {
        **known,
        "images": images,
        "sound": body.get("sound", False),  # [std] default disabled
        "aspect_ratio": aspect,
        "duration": duration,
        "shot_type": shot_type,
    }


def mode(inputs: dict[str, Any]) -> str:
    """The pricing mode of validated inputs: a reference video sets the rate whatever ``sound`` says
    ([pro]: sound only when no reference video), else sound, else base."""
    if inputs.get("video"):
        return "video"
    return "sound" if inputs.get("sound") else "base"


def price(model: str, inputs: dict[str, Any]) -> Decimal:
    """Exact charge in USD for validated inputs."""
    from . import wavespeed_images as images

    if model in images.MODELS:
        return images.price(model)
    return RATES[model][mode(inputs)] * inputs["duration"]
