"""What flows between the core, the engine and the backends: job identity, shots as a compiler sees
them, compiled render jobs and finished provider tasks.

A backend knows nothing about storyboards. The core turns a storyboard's shot into a neutral
:class:`ShotSpec` (prompt with its mentions, references in the order the model numbers them, video,
timing) and a generated image into an :class:`ImageSpec`; the backend's compiler turns that into its
provider's request; the engine runs the resulting :class:`RenderJob` and the backend produces one clip
(or one image) per job. A job compiled from another job's output (a shot continuing from another shot,
a shot using a generated image) names that output in ``upstream``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

# Local files appear in a compiled request as "sha256:<hex>" so the request (and the render key
# derived from it) depends on file content, never on paths or mtimes.
FILE_REF_PREFIX = "sha256:"


def file_ref(sha256: str) -> str:
    return FILE_REF_PREFIX + sha256


def is_file_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FILE_REF_PREFIX)


_JOB_ID = re.compile(r"(?:(?P<variant>[^/@#]+)/)?(?P<shot>[^/@#]+)(?:@(?P<aspect>\d+:\d+))?(?:#(?P<take>\d+))?")


@dataclass(frozen=True, order=True)
class JobId:
    """Which render a job is: a shot of a variant, at an aspect ratio, as one take.

    ``variant`` is "" for a plain storyboard (a campaign of one); ``aspect`` is None for the shot's own
    ratio and a ratio such as "9:16" for a native render a deliverable asks for; takes count from 1.
    Its string form is the key of the job in locks and journals and what users type:
    ``[variant/]shot[@aspect][#take]``, where the defaults are left out, so take 1 of a shot's own
    ratio is just the shot id.
    """

    shot: str
    variant: str = ""
    aspect: str | None = None
    take: int = 1

    def __str__(self) -> str:
        text = f"{self.variant}/{self.shot}" if self.variant else self.shot
        if self.aspect:
            text += f"@{self.aspect}"
        if self.take != 1:
            text += f"#{self.take}"
        return text

    @property
    def in_variant(self) -> str:
        """The id within its variant (what a storyboard's own lock and its cut call it)."""
        return str(JobId(self.shot, "", self.aspect, self.take))

    @classmethod
    def parse(cls, text: str) -> JobId:
        """The inverse of ``str()``; ValueError for text that is not a job id."""
        match = _JOB_ID.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a job id ([variant/]shot[@W:H][#take])")
        take = int(match["take"]) if match["take"] else 1
        if take < 1:
            raise ValueError(f"{text!r}: takes count from 1")
        return cls(match["shot"], match["variant"] or "", match["aspect"], take)

    def matches(self, selector: str) -> bool:
        """Whether ``--only``/``--force`` text names this job: a shot id names all its renders in every
        variant; ``variant/shot`` one variant's; a full id (``shot@9:16``, ``shot#2``) exactly one."""
        try:
            wanted = JobId.parse(selector)
        except ValueError:
            return False
        if wanted.variant and wanted.variant != self.variant:
            return False
        if wanted.shot != self.shot:
            return False
        if "@" in selector and wanted.aspect != self.aspect:
            return False
        return "#" not in selector or wanted.take == self.take


@dataclass(frozen=True)
class InputFile:
    """A local reference file a job needs, addressed by content."""

    sha256: str
    path: Path  # absolute and resolved
    kind: str  # "image" | "video" | "audio"
    name: str  # the character or asset it belongs to, for humans


# -- shots as a compiler sees them --------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """``@name`` in a prompt: a character or asset the compiler names in its model's own syntax."""

    name: str


Prompt = tuple["str | Mention", ...]


@dataclass(frozen=True)
class Reference:
    """A character or image asset a shot uses, with its images (file refs or https URLs) in order."""

    name: str
    kind: str  # "character" | "image" | "frame" (the frame of another shot this one starts from)
    images: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class SegmentSpec:
    prompt: Prompt
    duration: float


@dataclass(frozen=True)
class ShotSpec:
    """One shot, provider-neutral: what every backend's compiler gets.

    ``references`` are in the order models number them (SPEC §2: characters and image assets at
    their first mention, then ``refs``); ``video`` is a file ref or URL of the reference video.
    """

    shot: str
    prompt: Prompt
    aspect_ratio: str
    duration: float
    sound: bool
    shot_type: str
    style: str = ""
    references: tuple[Reference, ...] = ()
    video: str | None = None
    video_name: str | None = None
    keep_original_sound: bool | None = None
    segments: tuple[SegmentSpec, ...] = ()
    seed: int | None = None
    # Which take this is. Hosted models without a seed ignore it (the render key tells takes apart);
    # a model with a seed derives a distinct one from it; the animatic draws it on the frames.
    take: int = 1

    @property
    def images(self) -> list[tuple[str, str]]:
        """Every reference image in order, as (file ref or URL, owner name)."""
        return [(image, ref.name) for ref in self.references for image in ref.images]

    @property
    def frame(self) -> Reference | None:
        """The frame of another shot this shot starts from (``continue_from``): always its first
        reference, so it is Figure 1. Formats with a start-image field may send it there instead."""
        first = self.references[0] if self.references else None
        return first if first is not None and first.kind == "frame" else None

    def text(self, prompt: Prompt, name: Callable[[str], str]) -> str:
        """``prompt`` with each mention replaced by ``name(mention)`` and the style appended."""
        body = "".join(part if isinstance(part, str) else name(part.name) for part in prompt)
        return with_style(body, self.style)

    def described(self, prompt: Prompt) -> str:
        """``prompt`` for a model that numbers no reference images: ``@maya`` becomes ``maya (young woman,
        …)`` at its first mention and ``maya`` after that; the style appended."""
        descriptions = {ref.name: ref.description for ref in self.references}
        described: set[str] = set()

        def name(mention: str) -> str:
            description = descriptions.get(mention, "")
            if description and mention not in described:
                described.add(mention)
                return f"{mention} ({description})"
            return mention

        return self.text(prompt, name)

    def figures(self) -> dict[str, list[int]]:
        """Reference name → the 1-based numbers of its images (Figure N)."""
        return figure_numbers(self.references)


def figure_numbers(references: Iterable[Reference]) -> dict[str, list[int]]:
    """Reference name → the 1-based numbers of its images, numbered in order across the references."""
    out: dict[str, list[int]] = {}
    number = 1
    for ref in references:
        out[ref.name] = list(range(number, number + len(ref.images)))
        number += len(ref.images)
    return out


@dataclass(frozen=True)
class ImageSpec:
    """One generated image (a character sheet, a product still), provider-neutral: what an image
    model's compiler gets. ``subject`` is the character's or asset's description; ``prompt`` says how to
    draw it and may mention references (``@name``), which are in ``references`` in the order they are
    numbered. ``width``/``height`` are None for a model that picks its own size."""

    name: str  # the node id: "character:maya", "asset:sneaker"
    subject: str
    prompt: Prompt
    references: tuple[Reference, ...] = ()
    width: int | None = None
    height: int | None = None
    take: int = 1

    @property
    def images(self) -> list[tuple[str, str]]:
        return [(image, ref.name) for ref in self.references for image in ref.images]

    def figures(self) -> dict[str, list[int]]:
        """Reference name → the 1-based numbers of its images (Figure N)."""
        return figure_numbers(self.references)

    def text(self, name: Callable[[str], str]) -> str:
        """The subject, then the prompt with each mention replaced by ``name(mention)``."""
        body = "".join(part if isinstance(part, str) else name(part.name) for part in self.prompt).strip()
        subject = self.subject.strip()
        if subject and body:
            return f"{subject}{'' if subject.endswith(('.', '!', '?')) else '.'} {body}"
        return subject or body


def with_style(text: str, style: str) -> str:
    """The storyboard's ``style`` appended to a prompt as its own sentence."""
    if not style:
        return text
    text = text.rstrip()
    joiner = " " if text.endswith((".", "!", "?")) else ". "
    return f"{text}{joiner}{style}"


# -- compiled jobs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    """Another job's output a job is compiled from: the frame of a shot it continues from (``frame``
    "last", "first" or seconds), or a generated image (``frame`` None).

    ``sha256`` is the content hash of that output (the extracted frame, the stored image) as it entered
    the request; None while the upstream job has not rendered, and then the job is *provisional*: its
    request holds a placeholder, its key is not final, and it is compiled again once the upstream exists.
    ``held_by``: the nodes waiting for a person's approval (``approve_before_use``) that hold it: the
    upstream itself, or nodes further up."""

    node: str  # "lace-up", "character:maya"
    job: JobId  # the upstream render used (its approved take, else take 1)
    key: str  # that render's key when this job was compiled
    frame: str | None = None
    sha256: str | None = None
    held_by: tuple[str, ...] = ()


PLACEHOLDER_PREFIX = "upstream:"


def placeholder(upstream_key: str, frame: str | None) -> str:
    """What a provisional request holds where an upstream output will go; never sent anywhere."""
    return f"{PLACEHOLDER_PREFIX}{upstream_key}" + (f"#{frame}" if frame else "")


@dataclass(frozen=True)
class RenderJob:
    """One shot (or one generated image) compiled for one backend: everything that determines the
    clip, and nothing else.

    ``request`` is JSON-able; local files in it are ``sha256:<hex>`` strings resolved via ``files``.
    ``settings`` are the storyboard's non-secret ``backends.<name>`` settings as the backend needs them
    at run time (paths made absolute). ``kind`` "image" jobs produce one still image (PNG or JPEG) and
    have no duration; ``upstream`` names the outputs of other jobs this one was compiled from.
    """

    id: JobId
    key: str
    backend: str
    model: str
    endpoint: str
    request: Mapping[str, Any]
    files: Mapping[str, InputFile]
    duration: float
    aspect_ratio: str
    sound: bool
    mode: str  # "base" | "sound" | "video": the pricing mode
    cost: Decimal
    settings: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "video"
    upstream: tuple[Upstream, ...] = ()

    @property
    def waiting(self) -> tuple[Upstream, ...]:
        """The upstream outputs that do not exist yet: the job must be compiled again after them."""
        return tuple(u for u in self.upstream if u.sha256 is None)

    @property
    def provisional(self) -> bool:
        return bool(self.waiting)

    @property
    def held_by(self) -> tuple[str, ...]:
        """The nodes waiting for approval (upstream, directly or further up) that hold this job back."""
        return tuple(dict.fromkeys(node for u in self.upstream for node in u.held_by))

    @property
    def shot_id(self) -> str:
        """The job id as text, for messages ("shot us-15/hero@9:16")."""
        return str(self.id)

    def file(self, ref: str) -> InputFile:
        """The InputFile for a ``sha256:<hex>`` reference in ``request``."""
        return self.files[ref.removeprefix(FILE_REF_PREFIX)]


@dataclass(frozen=True)
class TaskOutput:
    """A finished provider task: where its outputs can be downloaded from."""

    task_id: str
    urls: tuple[str, ...]
    raw: Mapping[str, Any] = field(default_factory=dict)


# on_status(state, detail): state is one of "queued", "submitted", "running", "downloading", "done";
# detail is free text (provider status, denoising step "12/30", …) for the progress display.
StatusCallback = Callable[[str, str], None]

# on_send(): awaited by a remote backend right before it sends a submit, each time it sends one; the
# engine journals its intent there, so a shot still waiting (uploads, rate limit) has nothing in flight.
SendHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Ambiguity:
    """What the engine knows about a submit that may have created a task without returning its id, for
    the backend to look the task up by (never by the request: hosts' histories do not show inputs).

    ``since``/``until``: when the submit was sent and when it ended (epoch seconds; ``until`` is None
    when the process died inside it). ``known``: every task id a journal of the workspace holds, none of
    which can be this one. ``rivals``: the (duration, aspect ratio) of each other submit of the same
    model in about the same window whose task id is also unknown (None where not recorded): a task in
    the history may be one of theirs."""

    since: float
    until: float | None = None
    known: frozenset[str] = frozenset()
    rivals: tuple[tuple[float | None, str | None], ...] = ()


@dataclass(frozen=True)
class Reconciliation:
    """A backend's answer to an :class:`Ambiguity`: the task to adopt, or none, with the ``candidates``
    it could not tell apart (task ids a person can check and adopt by hand)."""

    task_id: str | None = None
    candidates: tuple[str, ...] = ()
