"""The storyboard as frozen dataclasses: what the rest of reelmake reads after validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import Problem
from .yamlpos import Positions


STANDARD_SIZES = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}


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
    takes: int = 1  # how many takes the storyboard asks for; more may exist (`reelmake take`, --force)
    own_backend: str | None = None  # the backend the storyboard names, before a --backend override

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
    index: int = 0  # position in the storyboard's soundtrack list, for error locations


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
    index: int = 0  # position in the storyboard's deliverables list (0 for the default master)
    length: float | None = None  # seconds the cut must last exactly


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


@dataclass(frozen=True)
class Variant:
    """One storyboard of a campaign. A plain storyboard file is a campaign of one variant with id ""."""

    id: str
    storyboard: Storyboard
    vars: Mapping[str, Any] = field(default_factory=dict)
    text: str | None = None  # what the template rendered (campaigns only)


@dataclass(frozen=True)
class Campaign(FileBacked):
    """A storyboard or campaign file as loaded: every later step treats both alike.

    ``name`` names the output folder (``out/<name>/``): the campaign's name, or the storyboard's stem.
    ``kind`` is "storyboard" or "campaign"; a storyboard has exactly one variant, whose id is "".
    """

    path: Path  # absolute path of the file
    root: Path  # project root: the git work tree containing it, else its directory
    name: str
    kind: str
    variants: tuple[Variant, ...]
    budget: Decimal | None = None
    template: Path | None = None  # campaigns: the Jinja2 template, absolute and resolved
    vars: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
    all_variant_ids: tuple[str, ...] = ()  # every variant of the file, also those not selected

    @property
    def is_campaign(self) -> bool:
        return self.kind == "campaign"

    @property
    def storyboard(self) -> Storyboard:
        """The storyboard of a storyboard file (or of a campaign narrowed to one variant)."""
        if len(self.variants) != 1:
            raise ValueError(f"{self.path.name} has {len(self.variants)} variants; pick one with .variant(id)")
        return self.variants[0].storyboard

    @property
    def selected(self) -> bool:
        """Whether only some of the campaign's variants were loaded (``--variant``)."""
        return len(self.variants) != len(self.all_variant_ids)

    def variant(self, variant_id: str) -> Variant:
        for variant in self.variants:
            if variant.id == variant_id:
                return variant
        raise KeyError(variant_id)
