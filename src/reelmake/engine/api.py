"""One call per command, for scripts: open the project a path names and do one thing with it. Each is
:class:`~reelmake.engine.project.Project`'s method of the same name after :meth:`Project.open`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.model import Campaign
from ..core.plan import Plan
from ..fsutil import project_root
from .loading import load as load_file
from .outcomes import EventCallback, RenderOptions
from .project import Confirm, Project
from .summary import RenderSummary, ShotStatus
from .workspace import Workspace

if TYPE_CHECKING:
    from .executors import Executor


def load(path: str | Path, *, backend: str | None = None, variants: list[str] | None = None,
         check_media: bool = True) -> Campaign:
    """Load and validate a storyboard or campaign file: a :class:`Campaign` (one variant, id "", for a
    storyboard). Raises :class:`ValidationError` with every problem, each with file, line and column."""
    return load_file(path, backend=backend, variants=variants, check_media=check_media).campaign


def plan(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
         variants: list[str] | None = None, force: Iterable[str] = ()) -> Plan:
    """Validate, compile and compare with the lock, the clip store and the journal. Changes nothing but
    the workspace's file memo."""
    return Project.open(path, backend=backend, cache_dir=cache_dir, variants=variants).plan(force)


def render(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
           variants: list[str] | None = None, options: RenderOptions | None = None, only: Iterable[str] = (),
           force: Iterable[str] = (), cut: bool = True, out: str | Path | None = None,
           on_event: EventCallback | None = None, yes: bool = False, confirm: Confirm | None = None,
           price_check: bool = False, executor: Executor | None = None) -> RenderSummary:
    """Render what the plan says, then cut every deliverable (unless ``cut=False``).

    Paid work needs ``yes=True``, ``options.max_cost`` or a ``confirm`` callback (see
    :meth:`Project.render_async`). ``executor``: local renders and cuts there (a Ray cluster, from
    :func:`reelmake.engine.executors.open_executor`)."""
    project = Project.open(path, backend=backend, cache_dir=cache_dir, variants=variants)
    return project.render(options=options, only=only, force=force, cut=cut, out=out, on_event=on_event, yes=yes,
                          confirm=confirm, price_check=price_check, executor=executor)


def cut(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
        variants: list[str] | None = None, out: str | Path | None = None, deliverable: str | None = None,
        partial: bool = False, draft: bool = False, executor: Executor | None = None) -> RenderSummary:
    """Stitch deliverables from rendered clips only; never renders."""
    project = Project.open(path, backend=backend, cache_dir=cache_dir, variants=variants)
    return project.cut(out=out, deliverable=deliverable, partial=partial, draft=draft, executor=executor)


def status(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
           variants: list[str] | None = None, now: Callable[[], float] | None = None) -> list[ShotStatus]:
    """Where every render of the storyboard (every variant of the campaign) stands."""
    return Project.open(path, backend=backend, cache_dir=cache_dir, variants=variants).status(now)


def gc(path: str | Path = ".", *, cache_dir: str | Path | None = None, grace: float | None = None,
       dry_run: bool = False):
    """Remove from the project's workspace what no lock under the project references and nobody used
    for ``grace`` seconds (default 7 days). ``path`` is the project (or any file or folder in it)."""
    from .workspace import GRACE, project_locks

    target = Path(path)
    root = project_root(target if target.is_file() else target / "_")
    workspace = Workspace.for_project(root, cache_dir)
    return workspace.gc(project_locks(root), grace=GRACE if grace is None else grace, dry_run=dry_run)


__all__ = ["cut", "gc", "load", "plan", "render", "status"]
