"""The public operations — plan, render, cut, status — composed from the pure core and the effects.

The CLI is a thin layer over these; scripts and notebooks can call them directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .backends.base import RenderJob
from .cache import Cache, default_cache_dir
from .compile import compile_storyboard
from .journal import Journal, TaskState
from .lock import LockFile
from .model import Storyboard
from .plan import Plan, make_plan
from .orchestrator import EventCallback, Orchestrator, RenderOptions, RunResult
from .storyboard import load


@dataclass
class Project:
    """A loaded storyboard with its cache, journal and lock: everything a command needs."""

    storyboard: Storyboard
    cache: Cache
    journal: Journal
    lock: LockFile
    jobs: list[RenderJob]

    @classmethod
    def open(cls, path: str | Path | Storyboard, *, backend: str | None = None,
             cache_dir: str | Path | None = None) -> Project:
        sb = path if isinstance(path, Storyboard) else load(path, backend=backend)
        cache = Cache(Path(cache_dir) if cache_dir else default_cache_dir(sb.root))
        jobs = compile_storyboard(sb, cache.hashes)
        return cls(sb, cache, Journal(cache.root / "journal.jsonl"), LockFile.read(sb.lock_path), jobs)

    def plan(self, force: Iterable[str] = ()) -> Plan:
        in_flight = {k: s for k, s in self.journal.in_flight().items() if s.backend != "?"}
        return make_plan(self.storyboard, self.jobs, self.lock.entries, self.cache.has, in_flight, set(force))

    def out_dir(self, out: str | Path | None = None) -> Path:
        return Path(out) if out else self.storyboard.root / "out" / self.storyboard.stem


def plan(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
         force: Iterable[str] = ()) -> Plan:
    """Validate, compile and compare with the lock, the cache and the journal. No side effects
    beyond the file-hash memo."""
    project = Project.open(path, backend=backend, cache_dir=cache_dir)
    result = project.plan(force)
    project.cache.hashes.save()
    return result


@dataclass
class RenderSummary:
    plan: Plan
    result: RunResult
    outputs: dict[str, Path] = field(default_factory=dict)
    cut_errors: dict[str, str] = field(default_factory=dict)
    loudness: dict[str, float | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.cut_errors

    def to_json(self) -> dict:
        from .catalog import money_json

        return {
            "rendered": self.result.ids("rendered"),
            "cached": [r.id for r in self.plan.rows if r.status == "cached"] + self.result.ids("cached"),
            "failed": self.result.failures(),
            "spent": money_json(self.result.spent),
            "outputs": {name: str(path) for name, path in self.outputs.items()},
            "cut_errors": self.cut_errors,
            "loudness": self.loudness,
            "interrupted": self.result.interrupted,
        }


def runtime_settings(sb: Storyboard) -> dict[str, dict]:
    """The storyboard's backend settings as a backend needs them at run time: paths made absolute
    (relative to the storyboard). Render keys use the settings as written, so they stay portable."""
    settings = {name: dict(values) for name, values in sb.backends.items()}
    local = settings.get("local", {})
    if isinstance(local.get("model_path"), str):
        from .backends.local_wan_settings import looks_like_local_path, resolve_local_path

        if looks_like_local_path(local["model_path"], sb.directory):
            local["model_path"] = str(resolve_local_path(local["model_path"], sb.directory))
    return settings


async def price_check(jobs: list[RenderJob], settings: dict[str, dict], cache_root: Path) -> list[str]:
    """Ask each remote backend that can quote a price for every job; the mismatches over a cent."""
    from .backends import create_backend
    from .catalog import money

    problems = []
    for name in sorted({j.backend for j in jobs}):
        backend = create_backend(name, {**settings.get(name, {}), "cache_dir": cache_root})
        try:
            if not getattr(backend, "remote", False) or not hasattr(backend, "price"):
                continue
            backend.preflight([j for j in jobs if j.backend == name])
            for job in (j for j in jobs if j.backend == name):
                quoted = await backend.price(job)
                if abs(quoted - job.cost) > Decimal("0.01"):
                    problems.append(f"{job.shot_id}: {name} quotes {money(quoted)}, the catalog says "
                                    f"{money(job.cost)} ({job.model}, {job.mode}, {job.duration:g} s)")
        finally:
            await backend.aclose()
    return problems


def select_jobs(plan_: Plan, only: Iterable[str] = ()) -> list[RenderJob]:
    """The jobs this run submits: the plan's new, changed and in-flight rows, limited by --only."""
    only = set(only)
    rows = [r for r in plan_.rows if r.status in ("new", "changed", "in_flight")]
    if only:
        rows = [r for r in rows if r.id in only or r.id.split("@")[0] in only]
    return [r.job for r in rows if r.job is not None]


def effective_cap(sb: Storyboard, max_cost: Decimal | None) -> Decimal | None:
    caps = [c for c in (max_cost, sb.budget) if c is not None]
    return min(caps) if caps else None


async def render_async(project: Project, plan_: Plan, options: RenderOptions, *, only: Iterable[str] = (),
                       on_event: EventCallback | None = None) -> RunResult:
    jobs = select_jobs(plan_, only)
    current = [j.shot_id for j in project.jobs]

    def rendered(job: RenderJob, outcome) -> None:
        entry = project.cache.get(job.key)
        if entry is not None:
            project.lock.record(job, clip_sha256=entry.sha256, task_id=outcome.task_id or entry.meta.get("task_id"))

    orchestrator = Orchestrator(project.cache, project.journal, options, on_event or (lambda *a: None),
                                runtime_settings(project.storyboard), rendered)
    result = await orchestrator.run(jobs)
    # Shots that were cached before this run still belong in the lock (rendered elsewhere, or by a teammate).
    for row in plan_.rows:
        if row.status == "cached" and row.job is not None:
            if project.lock.entries.get(row.id, {}).get("key") == row.key:
                continue  # already recorded: nothing to read or write
            entry = project.cache.get(row.key)
            if entry is not None:
                project.lock.record(row.job, clip_sha256=entry.sha256, task_id=entry.meta.get("task_id"))
    if not only:
        project.lock.retain(current)
    project.lock.flush()
    return result


def render(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
           options: RenderOptions | None = None, only: Iterable[str] = (), force: Iterable[str] = (),
           cut: bool = True, out: str | Path | None = None, on_event: EventCallback | None = None) -> RenderSummary:
    """Render what the plan says, then cut every deliverable (unless ``cut=False``)."""
    project = Project.open(path, backend=backend, cache_dir=cache_dir)
    plan_ = project.plan(force)
    options = options or RenderOptions()
    options = RenderOptions(**{**options.__dict__, "max_cost": effective_cap(project.storyboard, options.max_cost)})
    result = asyncio.run(render_async(project, plan_, options, only=only, on_event=on_event))
    summary = RenderSummary(plan_, result)
    if cut and not result.interrupted:
        cut_project(project, summary, out=out)
    return summary


def cut_project(project: Project, summary: RenderSummary | None = None, *, out: str | Path | None = None,
                deliverable: str | None = None, partial: bool = False, draft: bool = False) -> RenderSummary:
    """Cut deliverables from the clips in the cache. Without ``partial`` a missing shot is an error."""
    from .assemble import cut_specs
    from .edit import cut as edit_cut
    from .errors import ReelmakeError

    summary = summary or RenderSummary(project.plan(), RunResult())
    failed = {i: o.status for o in summary.result.outcomes if o.status not in ("rendered", "cached") for i in o.job_ids}
    out_dir = project.out_dir(out)
    for spec in cut_specs(project, failed, only=deliverable):
        target = out_dir / f"{spec.deliverable.name}.mp4"
        try:
            report = edit_cut(spec, target, work_dir=project.cache.root / "edit", draft=draft, partial=partial)
        except ReelmakeError as exc:  # a missing clip, a bad edit: this deliverable fails, the others go on
            summary.cut_errors[spec.deliverable.name] = str(exc)
            continue
        summary.outputs[spec.deliverable.name] = report.path
        summary.loudness[spec.deliverable.name] = report.loudness
    return summary


def cut(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
        out: str | Path | None = None, deliverable: str | None = None, partial: bool = False,
        draft: bool = False) -> RenderSummary:
    """Stitch deliverables from rendered clips only; never renders."""
    project = Project.open(path, backend=backend, cache_dir=cache_dir)
    return cut_project(project, out=out, deliverable=deliverable, partial=partial, draft=draft)


@dataclass
class ShotStatus:
    id: str
    state: str  # rendered | in_flight | ambiguous | pending | failed
    key: str
    task_id: str | None = None
    age: float | None = None
    error: str | None = None


def status(path: str | Path | Storyboard, *, backend: str | None = None, cache_dir: str | Path | None = None,
           now: Callable[[], float] | None = None) -> list[ShotStatus]:
    """Where every render of the storyboard stands, including paid tasks in flight."""
    import time

    project = Project.open(path, backend=backend, cache_dir=cache_dir)
    states: dict[str, TaskState] = project.journal.states()
    clock = (now or time.time)()
    out = []
    for job in project.jobs:
        state = states.get(job.key)
        if project.cache.has(job.key):
            out.append(ShotStatus(job.shot_id, "rendered", job.key))
        elif state and state.status in ("submitted", "intent", "ambiguous"):
            label = "in_flight" if state.status == "submitted" else "ambiguous"
            out.append(ShotStatus(job.shot_id, label, job.key, state.task_id, clock - state.since, state.error))
        elif state and state.status == "failed":
            out.append(ShotStatus(job.shot_id, "failed", job.key, state.task_id, clock - state.updated, state.error))
        else:
            out.append(ShotStatus(job.shot_id, "pending", job.key))
    project.cache.hashes.save()
    return out


__all__ = ["Project", "RenderSummary", "ShotStatus", "cut", "cut_project", "plan", "render", "status"]
