"""Backend plugins: what a backend package exports, and the registry that finds them.

A backend is a package exporting one :class:`BackendPlugin` under the entry-point group
``reelmake.backends`` (the built-ins too, see ``pyproject.toml``), so a separate distribution can add
a host without touching reelmake::

    [project.entry-points."reelmake.backends"]
    myhost = "myhost_reelmake:plugin"

The plugin object is cheap to import: its settings schema, its request compilers and its settings
checks are plain, torch-free Python; the backend itself (HTTP clients, torch) is imported only by
``factory`` when a render starts. Capabilities are declared, not discovered: ``remote`` says the
backend sells paid tasks (journaled, budgeted, never submitted twice).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import BackendUnavailable
from .jobs import Ambiguity, Prompt, Reconciliation, RenderJob, SendHook, ShotSpec, StatusCallback, TaskOutput

ENTRY_POINT_GROUP = "reelmake.backends"


@dataclass(frozen=True)
class SettingProblem:
    """A problem with ``backends.<name>``: ``key`` is the dotted setting ("sizes.16:9"), "" for the block."""

    key: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class RequestFormat:
    """How one provider request format is written; a catalog model names the format it speaks.

    - ``prompt(shot, prompt)``: one prompt (the shot's or a segment's) as the model reads it, mentions
      written in the model's own syntax ("Figure 2", "<<<image_1>>>", "maya (young woman…)") and the
      style appended. Validation measures these against the model's prompt limit.
    - ``request(shot, model, settings)``: the whole request, JSON-able, local files as "sha256:<hex>";
      ``model`` is the catalog entry, ``settings`` the storyboard's ``backends.<name>`` block as written.
    """

    prompt: Callable[[ShotSpec, Prompt], str]
    request: Callable[[ShotSpec, Any, Mapping[str, Any]], dict[str, Any]]


def _no_problems(settings: Mapping[str, Any], base_dir: Path) -> list[SettingProblem]:
    return []


def _as_written(settings: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    return dict(settings)


@dataclass(frozen=True)
class BackendPlugin:
    """Everything reelmake needs to know about one backend.

    - ``factory(settings, folder)`` builds the backend for a run; ``settings`` come from
      ``runtime_settings``; ``folder`` is the backend's own directory in the workspace (upload
      caches, scratch space).
    - ``compilers``: request formats by name; a catalog model names the one it speaks.
    - ``settings_schema``: the JSON Schema of ``backends.<name>``; the storyboard schema is assembled
      from these.
    - ``check_settings``: pure checks of the block (ranges, combinations), run by validation.
    - ``environment``: what this machine lacks for a render (an extra, a model directory); run when a
      storyboard is loaded from disk, reported as warnings, and enforced by ``preflight`` at render.
    - ``runtime_settings``: the block as the backend needs it at run time (paths made absolute against
      the storyboard's directory). Render keys always use the block as written.
    - ``gpu``: a local backend that renders on a GPU when there is one (``device`` setting): an
      executor with GPUs (Ray) gives each of its workers one.
    """

    name: str
    remote: bool
    factory: Callable[[Mapping[str, Any], Path], Backend]
    compilers: Mapping[str, RequestFormat] = field(default_factory=dict)
    settings_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    check_settings: Callable[[Mapping[str, Any], Path], list[SettingProblem]] = _no_problems
    environment: Callable[[Mapping[str, Any], Path], list[SettingProblem]] = _no_problems
    runtime_settings: Callable[[Mapping[str, Any], Path], dict[str, Any]] = _as_written
    description: str = ""
    gpu: bool = False


@runtime_checkable
class RemoteBackend(Protocol):
    """A hosted API: tasks are submitted, paid for, polled and downloaded.

    Contract the orchestrator relies on for money safety (checked by tests/test_backend_contract.py):
    - ``submit`` awaits ``on_send()`` right before each request it sends (the engine journals its
      intent there), creates at most one task per call, and raises only the ``BackendError`` classes
      that say what happened: ``NotSent``/``RateLimited`` (no task), ``SubmitRejected`` (no task),
      ``SubmitAmbiguous`` (a task may exist). Waiting for the provider's rate limit happens inside it,
      before ``on_send``, reported through ``on_status``;
    - ``wait`` and ``fetch`` are safe to repeat for the same task id (after a crash, too); they raise
      ``TaskFailed``/``TaskLost`` only when the provider says the task is over;
    - ``reconcile`` never submits or uploads anything, and adopts a task only when it is sure.
    """

    name: str
    remote: bool  # True

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Raise BackendUnavailable before anything is spent (missing API key, bad settings…)."""

    async def submit(self, job: RenderJob, *, on_status: StatusCallback, on_send: SendHook) -> str:
        """Submit the job; return the provider task id."""

    async def wait(self, job: RenderJob, task_id: str, on_status: StatusCallback) -> TaskOutput:
        """Poll until the task is terminal; return its outputs or raise BackendError."""

    async def fetch(self, job: RenderJob, output: TaskOutput, dest: Path) -> None:
        """Download and verify the clip into ``dest`` (a temp path the engine then moves)."""

    async def reconcile(self, job: RenderJob, ambiguity: Ambiguity) -> Reconciliation:
        """Find the task an ambiguous submit may have created (provider history, never by inputs)."""

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

_REGISTERED: dict[str, BackendPlugin] = {}


@cache
def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@cache
def _load(name: str) -> BackendPlugin:
    entry = _entry_points()[name]
    try:
        plugin = entry.load()
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name!r} ({entry.value}) cannot be imported: {exc}") from exc
    if not isinstance(plugin, BackendPlugin) or plugin.name != name:
        raise BackendUnavailable(f"entry point {name!r} ({entry.value}) is not a BackendPlugin named {name!r}")
    return plugin


def register(plugin: BackendPlugin) -> None:
    """Add a backend in this process (tests, notebooks); installed packages use the entry point."""
    _REGISTERED[plugin.name] = plugin


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


def known_backends() -> list[str]:
    return sorted({*_entry_points(), *_REGISTERED})


def get_plugin(name: str) -> BackendPlugin:
    """The plugin called ``name``; BackendUnavailable naming the known ones otherwise."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _entry_points():
        return _load(name)
    raise BackendUnavailable(f"unknown backend {name!r}; known: {', '.join(known_backends())}")


def plugins() -> list[BackendPlugin]:
    """Every backend that can be loaded here, by name (broken third-party entry points are skipped)."""
    out = []
    for name in known_backends():
        try:
            out.append(get_plugin(name))
        except BackendUnavailable:
            continue
    return out


def create_backend(name: str, settings: Mapping[str, Any], folder: Path) -> Backend:
    """Instantiate backend ``name`` for a run with its runtime settings and workspace folder."""
    return get_plugin(name).factory(dict(settings), Path(folder))
