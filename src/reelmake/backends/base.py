"""What every backend receives (a RenderJob) and the two shapes a backend can take.

A backend knows nothing about storyboards: it gets compiled jobs and produces one clip per job.
The orchestrator owns the journal, the cache, retries and budgets; a backend only talks to its
provider or model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# Local files appear in a compiled request as "sha256:<hex>" so the request (and the render key
# derived from it) depends on file content, never on paths or mtimes.
FILE_REF_PREFIX = "sha256:"


def file_ref(sha256: str) -> str:
    return FILE_REF_PREFIX + sha256


def is_file_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FILE_REF_PREFIX)


@dataclass(frozen=True)
class InputFile:
    """A local reference file a job needs, addressed by content."""

    sha256: str
    path: Path  # absolute and resolved
    kind: str  # "image" | "video" | "audio"
    name: str  # the character or asset it belongs to, for humans


@dataclass(frozen=True)
class RenderJob:
    """One shot compiled for one backend: everything that determines the clip, and nothing else.

    ``request`` is JSON-able; local files in it are ``sha256:<hex>`` strings resolved via ``files``.
    ``settings`` are the storyboard's non-secret ``backends.<name>`` settings (base_url, …).
    """

    key: str
    shot_id: str
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


@runtime_checkable
class RemoteBackend(Protocol):
    """A hosted API: tasks are submitted, paid for, polled and downloaded.

    Contract the orchestrator relies on for money safety:
    - ``submit`` sends the request at most once per call; it raises ``BackendError(ambiguous=True)``
      when the request may have reached the provider but no task id came back, and
      ``BackendError(retryable=True)`` only when the task provably does not exist (connect error, 429).
    - ``wait`` and ``fetch`` are safe to repeat for the same task id (after a crash, too).
    """

    name: str
    remote: bool  # True

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Raise BackendUnavailable before anything is spent (missing API key, bad base URL…)."""

    async def submit(self, job: RenderJob) -> str:
        """Submit the job; return the provider task id."""

    async def wait(self, job: RenderJob, task_id: str, on_status: StatusCallback) -> TaskOutput:
        """Poll until the task is terminal; return its outputs or raise BackendError."""

    async def fetch(self, job: RenderJob, output: TaskOutput, dest: Path) -> None:
        """Download and verify the clip into ``dest`` (a temp path the orchestrator then moves)."""

    async def reconcile(self, job: RenderJob, submitted_after: float) -> str | None:
        """Find the task an ambiguous submit may have created (provider history); its id or None."""

    async def aclose(self) -> None:
        """Release connections."""


@runtime_checkable
class LocalBackend(Protocol):
    """Renders on this machine (ffmpeg animatic, a local diffusion model). Free; no task ids."""

    name: str
    remote: bool  # False

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Raise BackendUnavailable before anything starts (missing extra, bad model path…)."""

    async def run(self, job: RenderJob, dest: Path, on_status: StatusCallback) -> None:
        """Render the clip into ``dest``. Blocking work must run off the event loop."""

    async def aclose(self) -> None:
        """Release models, processes, threads."""


Backend = RemoteBackend | LocalBackend
