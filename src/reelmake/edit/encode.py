"""Encoding settings shared by every intermediate and the final mux, and the editor's version.

Intermediates are encoded once at final quality, so hard cuts can be joined by stream copy: every
piece of one deliverable must come out of the same encoder settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import MediaError
from .spec import DeliverableSpec

# Bump when a change in the editor changes its output, so cached intermediates and cuts are redone.
EDITOR_VERSION = "2"  # 2: true-peak limiter instead of loudnorm dynamic mode

SAMPLE_RATE = 48_000
DRAFT_CRF_OFFSET = 6

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

    def video_args(self) -> list[str]:
        """x264 arguments: H.264 High, yuv420p, constant frame rate."""
        return [
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf),
            "-profile:v", "high", "-pix_fmt", "yuv420p", "-r", rate(self.fps),
        ]


def intermediate_audio_args() -> list[str]:
    """Intermediates keep PCM audio: it joins sample-exactly, and the final mix re-encodes anyway."""
    return ["-c:a", "pcm_s16le", "-ar", str(SAMPLE_RATE), "-ac", "2"]


def samples_for_frames(n_frames: int, fps: float) -> int:
    return round(n_frames * SAMPLE_RATE / fps)


def rate(fps: float) -> str:
    """``fps`` as ffmpeg wants it: NTSC-style rates as exact fractions so timestamps do not drift."""
    for num in (24000, 30000, 60000):
        if abs(fps - num / 1001) < 1e-3:
            return f"{num}/1001"
    return f"{fps:g}"


def font_file() -> Path:
    """A font file present on this machine for burned captions and slates."""
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise MediaError(
        "no font found for captions and slates; install DejaVu "
        "(Debian/Ubuntu: `sudo apt-get install -y fonts-dejavu-core`)"
    )


def filter_path(path: Path) -> str:
    """Escape a path for use as a filter option value inside a filtergraph.

    Two levels, as ffmpeg parses them: the option value (``\\ ' :``), then the graph
    (``\\ ' [ ] , ;``). Paths are ours, but a project directory may contain any of these.
    """
    text = str(path)
    for ch in ("\\", "'", ":"):
        text = text.replace(ch, "\\" + ch)
    for ch in ("\\", "'", "[", "]", ",", ";"):
        text = text.replace(ch, "\\" + ch)
    return text
