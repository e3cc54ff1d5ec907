"""Encoding settings shared by every encoded piece and the final mux, and the editor's version.

Pieces are encoded once at final quality and joined by stream copy, beside stream-copied GOPs of
clips that are already in the deliverable's format (see ``sources``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import MediaError
from .spec import DeliverableSpec
from .timeline import fps_fraction

# Bump when a change in the editor changes its output, so cached intermediates and cuts are redone.
# 2: true-peak limiter instead of loudnorm dynamic mode; 3: pieces (stream copy, smart cut, transitions
# encoded alone), frame boundaries rounded from exact positions, graphs through ffmpeg-python.
EDITOR_VERSION = "3"

SAMPLE_RATE = 48_000
DRAFT_CRF_OFFSET = 6
# Frames x264 holds back for reordering with its default 3 B-frames in a pyramid (every preset from
# veryfast up): the join stamps decode times this far behind presentation at least.
X264_REORDER = 2

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
)


@dataclass(frozen=True)
class Encoding:
    """Everything that shapes the pixels and samples of an intermediate."""

    width: int
    height: int
    fps: float
    reframe: str  # crop | pad (render behaves like crop: the clip already has the right ratio)
    crf: int
    preset: str
    burn_captions: bool

    @classmethod
    def for_deliverable(cls, deliverable: DeliverableSpec, *, draft: bool) -> Encoding:
        width, height, crf, preset = deliverable.width, deliverable.height, deliverable.quality, "medium"
        if draft:
            # Half size, rounded down to even dimensions (yuv420p needs them).
            width, height = max(2, width // 4 * 2), max(2, height // 4 * 2)
            crf, preset = min(51, crf + DRAFT_CRF_OFFSET), "veryfast"
        return cls(
            width=width,
            height=height,
            fps=deliverable.fps,
            reframe="pad" if deliverable.reframe == "pad" else "crop",
            crf=crf,
            preset=preset,
            burn_captions=deliverable.captions == "burn",
        )

    def key(self, *parts: object) -> str:
        """A cache key for an intermediate made with these settings from ``parts``."""
        blob = json.dumps([EDITOR_VERSION, asdict(self), *parts], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    @property
    def rate(self) -> Fraction:
        return fps_fraction(self.fps)

    @property
    def timescale(self) -> int:
        """The mov timescale of every piece: ffmpeg's own choice for this rate (the rate's numerator
        doubled up to at least 10000), so a frame is a whole number of ticks and pieces concatenate."""
        scale = self.rate.numerator
        while scale < 10_000:
            scale *= 2
        return scale

    @property
    def frame_ticks(self) -> int:
        return int(self.timescale / self.rate)

    def video_options(self) -> dict[str, object]:
        """x264 output options: H.264 High, yuv420p, constant frame rate, the shared timescale."""
        return {"c:v": "libx264", "preset": self.preset, "crf": self.crf, "profile:v": "high",
                "pix_fmt": "yuv420p", "r": rate(self.fps), "video_track_timescale": self.timescale}


def samples_at(frame: int, fps: float) -> int:
    """The audio sample where timeline frame ``frame`` starts (rounded like frame boundaries)."""
    return round(frame * SAMPLE_RATE / fps_fraction(fps))


def rate(fps: float) -> str:
    """``fps`` as ffmpeg wants it: NTSC-style rates as exact fractions so timestamps do not drift."""
    value = fps_fraction(fps)
    return f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value.numerator)


def font_file() -> Path:
    """A font file present on this machine for burned captions and slates."""
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise MediaError(
        "no font found for captions and slates; install DejaVu "
        "(Debian/Ubuntu: `sudo apt-get install -y fonts-dejavu-core`)"
    )
