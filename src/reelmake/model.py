"""The storyboard as frozen dataclasses: what the rest of reelmake reads after validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import Problem
from .yamlpos import Positions


def yaml_stem(path: Path) -> str:
    """``spot.yaml`` → ``spot``: names the lock (``spot.lock``) and the output folder (``out/spot/``)."""
    name = path.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


class FileBacked:
    """Where a document loaded from ``self.path`` keeps its companions: ``spot.yaml`` → ``spot.lock``."""

    path: Path

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def stem(self) -> str:
        return yaml_stem(self.path)

    @property
    def lock_path(self) -> Path:
        return self.directory / f"{self.stem}.lock"


@dataclass(frozen=True)
class Character:
    name: str
    images: tuple[str, ...]  # paths relative to the storyboard, or https:// URLs
    description: str = ""


@dataclass(frozen=True)
class Asset:
    name: str
    kind: str  # "image" | "video" | "audio"
    source: str  # path relative to the storyboard, or https:// URL (image/video only)
    description: str = ""


@dataclass(frozen=True)
class Segment:
    prompt: str
    duration: float


@dataclass(frozen=True)
class ShotTransition:
    type: str
    duration: float


@dataclass(frozen=True)
class Shot:
    """A shot with defaults applied: every generation setting is explicit here."""

    index: int
    id: str
    prompt: str
    backend: str
    model: str
    aspect_ratio: str
    duration: float
    sound: bool
    shot_type: str
    caption: str | None = None
    video: str | None = None
    keep_original_sound: bool | None = None
    multi_prompt: tuple[Segment, ...] = ()
    refs: tuple[str, ...] = ()
    trim: tuple[float, float] | None = None
    transition: ShotTransition | None = None
    seed: int | None = None

    @property
    def length(self) -> float:
        """Seconds on the timeline before transitions overlap it."""
        return self.trim[1] - self.trim[0] if self.trim else self.duration


@dataclass(frozen=True)
class SoundtrackItem:
    asset: str
    start: float | None = None
    at: str | None = None
    offset: float = 0.0
    volume: float = 0.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    duck: bool = False
    loop: bool = False


@dataclass(frozen=True)
class Mix:
    loudness: float = -14.0
    true_peak: float = -1.0
    shot_audio: bool = True


@dataclass(frozen=True)
class Deliverable:
    name: str
    aspect_ratio: str
    width: int
    height: int
    fps: float
    reframe: str = "crop"
    captions: str = "sidecar"
    quality: int = 18


@dataclass(frozen=True)
class Storyboard(FileBacked):
    path: Path  # absolute path of the storyboard file (or the campaign variant's label path)
    root: Path  # project root: the git work tree containing it, else its directory
    title: str
    shots: tuple[Shot, ...]
    style: str = ""
    budget: Decimal | None = None
    characters: dict[str, Character] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)
    soundtrack: tuple[SoundtrackItem, ...] = ()
    mix: Mix = field(default_factory=Mix)
    deliverables: tuple[Deliverable, ...] = ()
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: Positions = field(default_factory=Positions, compare=False, repr=False)
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    def shot(self, shot_id: str) -> Shot:
        for shot in self.shots:
            if shot.id == shot_id:
                return shot
        raise KeyError(shot_id)
