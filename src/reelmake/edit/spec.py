"""What the editor is asked to cut: plain data, built from a storyboard by the caller.

The editor knows nothing about storyboards or backends; it turns these specs into deliverables.
Times are seconds on the shot's own clock (trim) or on the deliverable's timeline (beds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Transition:
    """Transition *into* a clip from the previous one. ``type`` is an xfade name (fade, dissolve,
    fadeblack, wipeleft, …); its duration overlaps the two clips on the timeline."""

    type: str
    duration: float


@dataclass(frozen=True)
class ClipSpec:
    shot_id: str
    path: Path | None  # rendered clip in the cache; None when missing (slate with --partial)
    sha256: str | None  # content hash of the clip, for intermediate cache keys
    duration: float  # the shot's planned duration in seconds
    trim: tuple[float, float] | None = None  # in/out within the clip
    transition: Transition | None = None
    caption: str | None = None
    status: str = "rendered"  # rendered | missing | failed | in_flight | unapproved: shown on a slate
    take: int | None = None  # which take of the shot this clip is, for the report

    @property
    def length(self) -> float:
        """Seconds this clip occupies before transitions overlap it."""
        if self.trim:
            return self.trim[1] - self.trim[0]
        return self.duration


@dataclass(frozen=True)
class BedSpec:
    """An audio item on the timeline (music, voice-over). Position: ``start`` seconds, or
    ``at`` a shot id (its first frame on the timeline) plus ``offset``."""

    name: str
    path: Path
    sha256: str
    start: float | None = None
    at: str | None = None
    offset: float = 0.0
    volume_db: float = 0.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    duck: bool = False  # lowered under shot audio and non-ducked items (voice-over)
    loop: bool = False  # repeat to fill the rest of the timeline; otherwise play once, cut at the end


@dataclass(frozen=True)
class MixSpec:
    loudness: float = -14.0  # integrated LUFS target
    true_peak: float = -1.0  # dBTP ceiling
    shot_audio: bool = True


@dataclass(frozen=True)
class DeliverableSpec:
    name: str
    width: int
    height: int
    fps: float
    reframe: str = "crop"  # crop | pad | render
    captions: str = "sidecar"  # sidecar | burn | none
    quality: int = 18  # x264 CRF
    length: float | None = None  # seconds the cut must last exactly (checked, never stretched to)


@dataclass(frozen=True)
class CutSpec:
    title: str
    clips: tuple[ClipSpec, ...]
    deliverable: DeliverableSpec
    beds: tuple[BedSpec, ...] = ()
    mix: MixSpec = field(default_factory=MixSpec)
