"""The one pipeline: load → plan → render → cut → status, for a storyboard or a campaign alike.

A storyboard is a campaign of one variant. :class:`Project` holds what every command works on (the
loaded file, its compiled jobs, the workspace, the lock); the CLI is a thin layer over it, and the
module functions (``reelmake.plan`` and friends) open a project and run one step.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog import money, money_json
from ..core.compile import compile_storyboard
from ..core.model import Campaign, Variant
from ..core.plan import Plan, make_plan
from ..errors import BudgetExceeded, ReelmakeError
from ..fsutil import project_root
from ..jobs import RenderJob
from ..plugins import create_backend, get_plugin
from .budget import Budget
from .loading import load as load_file
from .lock import LockFile
from .orchestrator import EventCallback, Orchestrator, Outcome, RenderOptions, RunResult
from .workspace import Workspace

# confirm(amount) -> whether to spend it (the CLI asks on a terminal); None: refuse unless told.
Confirm = Callable[[Decimal], bool]


@dataclass
class Cuts:
    """What cutting produced, per variant ("" for a storyboard) and deliverable."""

    outputs: dict[str, dict[str, Path]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    loudness: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())


@dataclass
class RenderSummary:
    """A render (or a cut alone): the plan it followed, how each render ended, and what was cut."""

    plan: Plan
    result: RunResult = field(default_factory=RunResult)
    cuts: Cuts = field(default_factory=Cuts)

    @property
    def ok(self) -> bool:
        return self.result.ok and self.cuts.ok

    def to_json(self) -> dict[str, Any]:
        """SPEC §5's summary: ``rendered``/``cached``/``failed`` job ids (``variant/shot`` in a campaign),
        ``spent`` as a decimal string, ``outputs`` by deliverable (by variant, then deliverable, in a
        campaign)."""
        cached = [str(r.id) for r in self.plan.rows if r.status == "cached"] + self.result.ids("cached")
        data: dict[str, Any] = {
            "rendered": self.result.ids("rendered"),
            "cached": cached,
            "failed": self.result.failures(),
            "spent": money_json(self.result.spent),
        }
        paths = {vid: {name: str(path) for name, path in outs.items()} for vid, outs in self.cuts.outputs.items()}
        errors = {vid: errs for vid, errs in self.cuts.errors.items() if errs}
        if self.plan.campaign.is_campaign:
            data = {"campaign": self.plan.campaign.name, **data, "outputs": paths, "cut_errors": errors}
        else:
            data.update(outputs=paths.get("", {}), cut_errors=errors.get("", {}),
                        loudness=self.cuts.loudness.get("", {}))
        data["interrupted"] = self.result.interrupted
        return data


@dataclass
class ShotStatus:
    id: str
    state: str  # rendered | in_flight | ambiguous | pending | failed
    key: str
    task_id: str | None = None
    age: float | None = None
    error: str | None = None


@dataclass
class Project:
    """A loaded storyboard or campaign with its workspace, lock and compiled jobs."""

    campaign: Campaign
    workspace: Workspace
    lock: LockFile
    jobs: dict[str, list[RenderJob]]  # by variant id
    backend: str | None = None  # the --backend override, if any

    @classmethod
    def open(cls, path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
             variants: list[str] | None = None) -> Project:
        """Load and validate ``path`` (ValidationError with every problem), inspect and hash its files."""
        path = Path(path)
        workspace = Workspace.for_project(project_root(path.absolute()), cache_dir)
        loaded = load_file(path, backend=backend, variants=variants, memo=workspace.memo, hash_files=True)
        facts = loaded.facts

        def digests(source: str) -> tuple[Path, str]:
            found = facts[source]
            assert found.resolved is not None and found.sha256 is not None
            return found.resolved, found.sha256

        jobs = {v.id: compile_storyboard(v.storyboard, digests, variant=v.id) for v in loaded.campaign.variants}
        workspace.memo.save()
        return cls(loaded.campaign, workspace, LockFile.read(loaded.campaign.lock_path), jobs, backend)

    # -- plan ----------------------------------------------------------------------------------
    def plan(self, force: Iterable[str] = ()) -> Plan:
        """Compare the compiled jobs with the lock, the clip store and the journal. Reads only."""
        in_flight = {k: s.task_id for k, s in self.workspace.journal.in_flight().items() if s.backend != "?"}
        return make_plan(self.campaign, self.jobs, self.lock.entries, self.workspace.clips.has, in_flight, force)

    @property
    def preview(self) -> bool:
        """An animatic preview of a storyboard meant for another backend (``--backend animatic``)."""
        shots = (shot for variant in self.campaign.variants for shot in variant.storyboard.shots)
        return self.backend == "animatic" and any(shot.own_backend != "animatic" for shot in shots)

    def out_dir(self, variant: Variant | str, out: str | Path | None = None) -> Path:
        """Where a variant's deliverables go: ``out/<stem>/`` (``out/<campaign>/<variant>/``); an animatic
        preview of a storyboard meant for another backend goes to ``animatic/`` in there, beside the finals."""
        variant_id = variant if isinstance(variant, str) else variant.id
        base = Path(out) if out else self.campaign.root / "out" / self.campaign.name
        if self.preview:
            base = base / "animatic"
        if not self.campaign.is_campaign:
            return base
        return base / variant_id

    # -- render --------------------------------------------------------------------------------
    def backend_settings(self) -> dict[str, dict[str, Any]]:
        """Each backend's settings as it needs them at run time (paths made absolute). Variants of one
        template normally agree; the first variant to configure a backend wins."""
        merged: dict[str, dict[str, Any]] = {}
        for variant in self.campaign.variants:
            sb = variant.storyboard
            for name in dict.fromkeys([*(s.backend for s in sb.shots), *sb.backends]):
                if name not in merged:
                    merged[name] = get_plugin(name).runtime_settings(sb.backends.get(name, {}), sb.directory)
        return merged

    def budget(self, max_cost: Decimal | None) -> Budget:
        """This run's budget: ``max_cost`` for the run, the file's ``budget`` shared by concurrent runs."""
        shared = self.campaign.budget
        digest = hashlib.sha256(str(self.campaign.lock_path).encode()).hexdigest()[:16]
        path = self.workspace.root / "budgets" / f"{digest}.json" if shared is not None else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return Budget(max_cost, shared, path)

    @staticmethod
    def fresh_cost(plan: Plan, jobs: list[RenderJob]) -> Decimal:
        """What submitting ``jobs`` costs: each key once; tasks already in flight were paid for."""
        in_flight = {row.key for row in plan.in_flight}
        return sum({j.key: j.cost for j in jobs if j.key not in in_flight}.values(), Decimal(0))

    async def price_check(self, jobs: list[RenderJob]) -> list[str]:
        """Ask each backend that quotes prices for every job; the mismatches of more than a cent."""
        settings = self.backend_settings()
        problems = []
        for name in sorted({j.backend for j in jobs}):
            backend = create_backend(name, settings.get(name, {}), self.workspace.backend_dir(name))
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

    async def render_async(self, plan: Plan, options: RenderOptions, *, only: Iterable[str] = (),
                           on_event: EventCallback | None = None, yes: bool = False, confirm: Confirm | None = None,
                           price_check: bool = False) -> RunResult:
        """Render what ``plan`` says (narrowed by ``only``), recording every clip in the lock.

        A paid render never starts silently: when it would submit paid work and neither ``yes`` nor
        ``options.max_cost`` is given, ``confirm(amount)`` decides (no ``confirm``: refuse)."""
        only = list(only)
        jobs = plan.jobs(only)
        cost = self.fresh_cost(plan, jobs)
        if cost > 0 and not yes and options.max_cost is None:
            if confirm is None:
                raise BudgetExceeded(f"this render would submit {money(cost)} of paid work; pass --yes or "
                                     "--max-cost USD to allow it (no terminal to ask on)")
            if not confirm(cost):
                raise BudgetExceeded("cancelled: nothing was submitted")
        if price_check:
            fresh = [j for j in {j.key: j for j in jobs}.values() if j.key not in {r.key for r in plan.in_flight}]
            mismatches = await self.price_check(fresh)
            if mismatches:
                raise ReelmakeError("the provider's prices differ from the catalog; nothing was submitted:\n  "
                                    + "\n  ".join(mismatches) + "\nupdate the catalog (or report it) before rendering")
        self.workspace.clean_tmp()

        def rendered(job: RenderJob, outcome: Outcome) -> None:
            entry = self.workspace.clips.get(job.key)
            if entry is not None:
                self.lock.record(job, clip_sha256=entry.sha256, task_id=outcome.task_id or entry.meta.get("task_id"))

        orchestrator = Orchestrator(self.workspace, options, on_event or (lambda *a: None), self.backend_settings(),
                                    rendered, self.budget(options.max_cost))
        result = await orchestrator.run(jobs)
        # Clips rendered before (elsewhere, by a teammate, by another variant) still belong in the lock.
        for row in plan.rows:
            if row.status != "cached" or row.job is None:
                continue
            if self.lock.entries.get(str(row.id), {}).get("key") == row.key:
                continue  # already recorded: nothing to read or write
            entry = self.workspace.clips.get(row.key)
            if entry is not None:
                self.lock.record(row.job, clip_sha256=entry.sha256, task_id=entry.meta.get("task_id"))
        if not only and not self.campaign.selected:
            self.lock.retain(str(row.id) for row in plan.rows)
        self.lock.flush()  # the lock writes in the background; it is on disk before the run reports done
        return result

    def render(self, *, options: RenderOptions | None = None, only: Iterable[str] = (), force: Iterable[str] = (),
               cut: bool = True, out: str | Path | None = None, on_event: EventCallback | None = None,
               yes: bool = False, confirm: Confirm | None = None, price_check: bool = False) -> RenderSummary:
        """Plan, render, then cut every deliverable of every variant (unless ``cut=False``)."""
        plan = self.plan(force)
        result = asyncio.run(self.render_async(plan, options or RenderOptions(), only=only, on_event=on_event,
                                               yes=yes, confirm=confirm, price_check=price_check))
        summary = RenderSummary(plan, result)
        if cut and not result.interrupted:
            self.cut(summary=summary, out=out)
        return summary

    # -- cut -----------------------------------------------------------------------------------
    def cut(self, *, summary: RenderSummary | None = None, out: str | Path | None = None,
            deliverable: str | None = None, partial: bool = False, draft: bool = False) -> RenderSummary:
        """Cut deliverables from the clips in the store. Without ``partial`` a missing shot is an error
        of that deliverable (the others are still cut)."""
        from ..edit import cut as edit_cut
        from .assemble import cut_specs

        summary = summary or RenderSummary(self.plan())
        failed = {i: o.status for o in summary.result.outcomes if o.status not in ("rendered", "cached")
                  for i in o.job_ids}
        for variant in self.campaign.variants:
            prefix = f"{variant.id}/" if variant.id else ""
            mine = {k[len(prefix):]: v for k, v in failed.items() if k.startswith(prefix)}
            out_dir = self.out_dir(variant, out)
            outputs = summary.cuts.outputs.setdefault(variant.id, {})
            errors = summary.cuts.errors.setdefault(variant.id, {})
            loudness = summary.cuts.loudness.setdefault(variant.id, {})
            for spec in cut_specs(variant.storyboard, self.jobs[variant.id], self.workspace, mine, only=deliverable):
                # A draft goes beside the final (with its own report, poster and sidecars), never over it.
                target = out_dir / f"{spec.deliverable.name}{'.draft' if draft else ''}.mp4"
                try:
                    report = edit_cut(spec, target, work_dir=self.workspace.edit_dir, draft=draft, partial=partial)
                except ReelmakeError as exc:  # a missing clip, a bad edit: this deliverable fails, the others go on
                    errors[spec.deliverable.name] = str(exc)
                    continue
                outputs[spec.deliverable.name] = report.path
                loudness[spec.deliverable.name] = report.loudness
        return summary

    # -- status --------------------------------------------------------------------------------
    def status(self, now: Callable[[], float] | None = None) -> list[ShotStatus]:
        """Where every render stands, including paid tasks in flight."""
        states = self.workspace.journal.states()
        clock = (now or time.time)()
        out = []
        for job in (j for jobs in self.jobs.values() for j in jobs):
            state = states.get(job.key)
            if self.workspace.clips.has(job.key):
                out.append(ShotStatus(job.shot_id, "rendered", job.key))
            elif state and state.in_flight:
                label = "in_flight" if state.status == "submitted" else "ambiguous"
                out.append(ShotStatus(job.shot_id, label, job.key, state.task_id, clock - state.since, state.error))
            elif state and state.status == "failed":
                out.append(ShotStatus(job.shot_id, "failed", job.key, state.task_id, clock - state.updated,
                                      state.error))
            else:
                out.append(ShotStatus(job.shot_id, "pending", job.key))
        return out


# -- the public operations --------------------------------------------------------------------


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
           price_check: bool = False) -> RenderSummary:
    """Render what the plan says, then cut every deliverable (unless ``cut=False``).

    Paid work needs ``yes=True``, ``options.max_cost`` or a ``confirm`` callback (see
    :meth:`Project.render_async`)."""
    project = Project.open(path, backend=backend, cache_dir=cache_dir, variants=variants)
    return project.render(options=options, only=only, force=force, cut=cut, out=out, on_event=on_event, yes=yes,
                          confirm=confirm, price_check=price_check)


def cut(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
        variants: list[str] | None = None, out: str | Path | None = None, deliverable: str | None = None,
        partial: bool = False, draft: bool = False) -> RenderSummary:
    """Stitch deliverables from rendered clips only; never renders."""
    project = Project.open(path, backend=backend, cache_dir=cache_dir, variants=variants)
    return project.cut(out=out, deliverable=deliverable, partial=partial, draft=draft)


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


__all__ = ["Cuts", "Project", "RenderSummary", "ShotStatus", "cut", "gc", "load", "plan", "render",
           "status"]
