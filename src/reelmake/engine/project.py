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
from typing import TYPE_CHECKING, Any

from ..catalog import money
from ..core.hosts import HostComparison, compare_hosts
from ..core.model import Campaign, Variant
from ..core.plan import Plan, make_plan
from ..core.takes import Approval, CompileTake, insert_takes, known_shots, new_takes, recorded_takes, unknown_selectors
from ..errors import BudgetExceeded, ReelmakeError, StoryboardError
from ..fsutil import project_root, remove_stale_temps
from ..jobs import JobId, RenderJob
from ..plugins import create_backend, get_plugin
from .budget import Budget
from .graph import GraphCompiler, artifacts, settle, upstream_rows
from .loading import load as load_file
from .lock import LockFile
from .orchestrator import Orchestrator
from .outcomes import EventCallback, Outcome, RenderOptions, RunResult
from .remote import RemoteStore
from .summary import Cuts, RenderSummary, ShotStatus
from .workspace import Workspace

if TYPE_CHECKING:  # exporting is imported when used: the CLI starts without it
    from .executors import Executor
    from .exporting import Exports

# confirm(amount) -> whether to spend it (the CLI asks on a terminal); None: refuse unless told.
Confirm = Callable[[Decimal], bool]


@dataclass
class Project:
    """A loaded storyboard or campaign with its workspace, lock and compiled jobs."""

    campaign: Campaign
    workspace: Workspace
    lock: LockFile
    jobs: dict[str, list[RenderJob]]  # by variant id: the takes the storyboard asks for
    compile_take: dict[str, CompileTake] = field(default_factory=dict)  # by variant id
    digests: Callable[[str], tuple[Path, str]] | None = None  # source → (path, sha256), for compiling again
    backend: str | None = None  # the --backend override, if any
    graph: GraphCompiler | None = None  # compiles jobs from the upstream outputs that exist (engine.graph)
    _remote: list[RemoteStore | None] = field(default_factory=list, repr=False)  # opened once, when first used

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

        lock = LockFile.read(loaded.campaign.lock_path)
        graph = GraphCompiler(loaded.campaign, digests, workspace, lock)
        jobs = graph.jobs()
        workspace.memo.save()
        return cls(loaded.campaign, workspace, lock, jobs, {v.id: graph.compile_take(v) for v in loaded.campaign.variants},
                   digests, backend, graph)

    # -- plan ----------------------------------------------------------------------------------
    def current_jobs(self) -> dict[str, list[RenderJob]]:
        """By variant: the takes the storyboard asks for, plus the further takes the lock records of
        each shot as it stands (``reelmake take``, ``--force``)."""
        indexes: dict[str, dict[JobId, dict[int, str]]] = {}

        def recorded(backend: str, base: JobId) -> dict[int, str]:
            if backend not in indexes:
                indexes[backend] = self.lock.take_index(backend)
            return indexes[backend].get(base, {})

        return {vid: recorded_takes(jobs, recorded, self.compile_take[vid]) if vid in self.compile_take else jobs
                for vid, jobs in self.jobs.items()}

    def check_selectors(self, option: str, selectors: Iterable[str], jobs: Iterable[RenderJob] | None = None,
                        keys: Iterable[str] = ()) -> None:
        """StoryboardError naming the known shots when ``--only``/``--force``/``--resubmit`` text names none."""
        ids = [j.id for j in (jobs if jobs is not None else (j for js in self.current_jobs().values() for j in js))]
        unknown = unknown_selectors(selectors, ids, keys)
        if unknown:
            raise StoryboardError(f"{option}: {', '.join(repr(u) for u in unknown)} names no shot of "
                                  f"{self.campaign.path.name} (known: {', '.join(known_shots(ids))}; a shot's "
                                  "renders are shot, shot@9:16, shot#2, and variant/shot in a campaign)")

    def plan(self, force: Iterable[str] = (), takes: int = 1) -> Plan:
        """Compare the jobs with the lock, the clip store and the journal. ``force``: shots to give
        ``takes`` new takes each (a forced shot never replaces a take). Reads only."""
        force = list(force)
        jobs = self.current_jobs()
        self.check_selectors("--force", force, (j for js in jobs.values() for j in js))
        forced = []
        if force:
            store = self.workspace.clips
            for vid, variant_jobs in jobs.items():
                added = new_takes(variant_jobs, force, self.compile_take[vid], store.has, takes)
                forced += [job.id for job in added]
                jobs[vid] = insert_takes(variant_jobs, added)
        in_flight = {k: s.task_id for k, s in self.workspace.journal.in_flight().items() if s.backend != "?"}
        clips = self.workspace.clips
        local = {key: clips.get(key, verify=True) is not None for key in {j.key for js in jobs.values() for j in js}}
        # The team's store: every local miss looked up at once (one listing or one batch, never per shot).
        from .sharing import remote_hits

        remote = remote_hits(self.remote(), (key for key, found in local.items() if not found))
        plan = make_plan(self.campaign, jobs, self.lock.sections(),
                         lambda key: local[key] if key in local else clips.get(key, verify=True) is not None,
                         in_flight, forced, self.lock.decisions, remote=remote.__contains__)
        self.workspace.memo.save()
        return plan

    def remote(self) -> RemoteStore | None:
        """The team's shared clip store (``remote`` in ``reelmake.toml``, or ``REELMAKE_REMOTE``), or None."""
        if not self._remote:
            from .sharing import open_remote

            self._remote.append(open_remote(self.campaign.root))
        return self._remote[0]

    def compare_hosts(self) -> HostComparison:
        """The plan on every host that offers the storyboard's models, side by side (``plan --hosts``)."""
        if self.digests is None:
            raise ReelmakeError("this project was not opened from a file; open it with Project.open")
        current = self.plan()
        in_flight = {k: s.task_id for k, s in self.workspace.journal.in_flight().items() if s.backend != "?"}
        clips = self.workspace.clips
        return compare_hosts(self.campaign, current, self.digests, self.lock.sections(),
                             lambda key: clips.get(key, verify=True) is not None, in_flight,
                             artifact=artifacts(self.workspace), decisions=self.lock.decisions)

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
                           price_check: bool = False, cut_ahead: bool = False,
                           executor: Executor | None = None) -> RunResult:
        """Render what ``plan`` says (narrowed by ``only``), recording every clip in the lock.

        A paid render never starts silently: when it would submit paid work and neither ``yes`` nor
        ``options.max_cost`` is given, ``confirm(amount)`` decides (no ``confirm``: refuse).
        ``cut_ahead``: make each deliverable's pieces as its clips land (a cut follows the render).
        ``executor``: where local backends' shots render (a Ray cluster); paid ones stay here."""
        only = list(only)
        planned = [r.job for r in plan.rows if r.job is not None]
        self.check_selectors("--only", only, planned)
        self.check_selectors("--resubmit", options.resubmit, planned, keys=[r.key for r in plan.rows])
        jobs = plan.jobs(only)
        needed = upstream_rows(plan, jobs) if only else {}
        if needed:  # --only: what the chosen shots are made from renders first, whole chains priced together
            chosen = {job.id for job in jobs} | {row.id for row in plan.rows if str(row.id) in needed}
            jobs = [row.job for row in plan.rows if row.id in chosen and row.job is not None]
        events = on_event or (lambda *a: None)
        claims = None
        if self.remote() is not None:  # pull what the team has; a damaged remote clip is rendered again
            from .sharing import pull_planned

            claims, jobs = await pull_planned(self, plan, [*only, *needed], jobs, events)
        cost = self.fresh_cost(plan, jobs)
        if cost > 0 and not yes and options.max_cost is None:
            if confirm is None:
                raise BudgetExceeded(f"this render would submit {money(cost)} of paid work; pass --yes or "
                                     "--max-cost USD to allow it (no terminal to ask on)")
            if not confirm(cost):
                raise BudgetExceeded("cancelled: nothing was submitted")
        if price_check:
            # A provisional job's request holds placeholders no host can price; its own price does not
            # depend on them, and the same model's other jobs are checked.
            fresh = [j for j in {j.key: j for j in jobs}.values()
                     if j.key not in {r.key for r in plan.in_flight} and not j.provisional]
            mismatches = await self.price_check(fresh)
            if mismatches:
                raise ReelmakeError("the provider's prices differ from the catalog; nothing was submitted:\n  "
                                    + "\n  ".join(mismatches) + "\nupdate the catalog (or report it) before rendering")
        self.workspace.clean_tmp()

        from .cut_ahead import CutAhead  # the editor loads only when a cut follows

        ahead = CutAhead(self.workspace, self.campaign.variants, *self._cut_inputs(plan)) if cut_ahead else None

        def rendered(job: RenderJob, outcome: Outcome) -> None:
            entry = self.workspace.clips.get(job.key)
            if entry is not None:
                self.lock.record(job, clip_sha256=entry.sha256, task_id=outcome.task_id or entry.meta.get("task_id"))
                if ahead is not None:
                    ahead.landed(job)

        for upstream, users in needed.items():
            events(upstream, "queued", f"needed first by {', '.join(users)}")
        orchestrator = Orchestrator(self.workspace, options, events, self.backend_settings(), rendered,
                                    self.budget(options.max_cost), self.graph.recompile if self.graph else None,
                                    claims, executor)
        try:
            result = await orchestrator.run(jobs)
        except BaseException:
            if ahead is not None:  # no cut is coming: drop the passes not started
                ahead.close(wait=False)
            raise
        if ahead is not None:  # the cut finds every piece made (or being made) so far
            await asyncio.to_thread(ahead.close, wait=not result.interrupted)
        result.needed = needed
        if self.graph is not None and any(job.provisional for job in jobs):
            self.jobs = self.graph.jobs()  # compiled again from what the run produced, for the cut
        # Clips rendered before (elsewhere, by a teammate, by another variant) still belong in the lock.
        for row in plan.rows:
            if row.status != "cached" or row.job is None:
                continue
            if (self.lock.entry(row.backend, str(row.id)) or {}).get("key") == row.key:
                continue  # already recorded: nothing to read or write
            entry = self.workspace.clips.get(row.key)
            if entry is not None:
                self.lock.record(row.job, clip_sha256=entry.sha256, task_id=entry.meta.get("task_id"))
        if not only and not self.campaign.selected:
            current: dict[str, list[str]] = {}
            for row in plan.rows:
                current.setdefault(row.backend, []).append(str(row.id))
            self.lock.retain(current)
        self.lock.flush()  # the lock writes in the background; it is on disk before the run reports done
        return result

    # -- the team's remote store (engine.sharing) -------------------------------------------------
    def push(self) -> Any:
        """Publish every clip of the storyboard this workspace has and the team's store lacks
        (``reelmake push``): a :class:`~reelmake.engine.sharing.Transfer`."""
        from .sharing import push_jobs, transfer

        return transfer(self, push_jobs)

    def pull(self) -> Any:
        """Fetch every clip of the storyboard the team's store has and this workspace lacks, each verified
        (``reelmake pull``): a :class:`~reelmake.engine.sharing.Transfer`."""
        from .sharing import pull_jobs, transfer

        return transfer(self, pull_jobs)

    def render(self, *, options: RenderOptions | None = None, only: Iterable[str] = (), force: Iterable[str] = (),
               cut: bool = True, out: str | Path | None = None, on_event: EventCallback | None = None,
               yes: bool = False, confirm: Confirm | None = None, price_check: bool = False,
               executor: Executor | None = None) -> RenderSummary:
        """Plan, render, then cut every deliverable of every variant (unless ``cut=False``); local
        renders and cuts on ``executor`` when given (see :mod:`reelmake.engine.executors`)."""
        plan = self.plan(force)
        result = asyncio.run(self.render_async(plan, options or RenderOptions(), only=only, on_event=on_event,
                                               yes=yes, confirm=confirm, price_check=price_check,
                                               cut_ahead=cut and executor is None, executor=executor))
        summary = RenderSummary(plan, result)
        if cut and not result.interrupted:
            self.cut(summary=summary, out=out, executor=executor)
        return summary

    # -- cut -----------------------------------------------------------------------------------
    def cut(self, *, summary: RenderSummary | None = None, out: str | Path | None = None,
            deliverable: str | None = None, partial: bool = False, draft: bool = False,
            approved_only: bool = False, executor: Executor | None = None) -> RenderSummary:
        """Cut deliverables from the clips in the store, each shot from its approved take, else its newest.
        Without ``partial`` a missing shot is an error of that deliverable (the others are still cut);
        ``approved_only`` puts a slate where a shot has no approval. ``executor``: cut each deliverable
        there (a Ray cluster) instead of one after another in this process."""
        from .assemble import cut_specs
        from .cutting import CutTask, cut_one

        summary = summary or RenderSummary(self.plan())
        self.workspace.clean_tmp()
        tasks: list[CutTask] = []
        jobs, approvals = self._cut_inputs(summary.plan)
        failed = {i: o.status for o in summary.result.outcomes if o.status not in ("rendered", "cached")
                  for i in o.job_ids}
        failed.update({str(r.id): f"held until {', '.join(r.held_by)} is approved" for r in summary.plan.held})
        for variant in self.campaign.variants:
            prefix = f"{variant.id}/" if variant.id else ""
            mine = {k[len(prefix):]: v for k, v in failed.items() if k.startswith(prefix)}
            out_dir = self.out_dir(variant, out)
            remove_stale_temps(out_dir)  # what a killed cut left half-written beside the deliverables
            for found in (summary.cuts.outputs, summary.cuts.errors, summary.cuts.loudness, summary.cuts.reports):
                found.setdefault(variant.id, {})
            shots = {shot: found for (vid, shot), found in approvals.items() if vid == variant.id}
            for spec in cut_specs(variant.storyboard, jobs[variant.id], self.workspace, mine, only=deliverable,
                                  approvals=shots, approved_only=approved_only):
                # A draft goes beside the final (with its own report, poster and sidecars), never over it.
                target = out_dir / f"{spec.deliverable.name}{'.draft' if draft else ''}.mp4"
                tasks.append(CutTask(variant.id, spec, target, self.workspace.edit_dir, draft, partial or approved_only))
        # Each deliverable fails alone (a missing clip, a bad edit, a full disk); the others are still cut.
        results = executor.cut(tasks) if executor is not None else [cut_one(task) for task in tasks]
        for result in results:
            if result.error is not None:
                summary.cuts.errors[result.variant][result.name] = result.error
            else:
                summary.cuts.outputs[result.variant][result.name] = result.report.path
                summary.cuts.loudness[result.variant][result.name] = result.report.loudness
                summary.cuts.reports[result.variant][result.name] = result.report
        return summary

    def _cut_inputs(self, plan: Plan) -> tuple[dict[str, list[RenderJob]], dict[tuple[str, str], Approval | None]]:
        """Each variant's jobs and each (variant, shot)'s approval: what the cuts are built from."""
        from .decisions import shot_takes

        jobs = {vp.id: [r.job for r in vp.rows if r.job is not None] for vp in plan.variants}
        if any(job.provisional for variant_jobs in jobs.values() for job in variant_jobs):
            jobs = settle(jobs, self.current_jobs())  # the plan's provisional jobs as the render compiled them
        return jobs, {(s.variant, s.shot): s.approval for s in shot_takes(self, jobs)}

    # -- decisions ---------------------------------------------------------------------------
    def approve(self, shot: str, take: int | None = None, note: str | None = None,
                by: str | None = None) -> tuple[str, int]:
        """Approve a take (default: the newest rendered) in the lock; see :mod:`reelmake.engine.decisions`."""
        from .decisions import approve

        return approve(self, shot, take, note, by)

    def reject(self, shot: str, take: int, note: str | None = None, by: str | None = None) -> tuple[str, int]:
        """Reject a take with an optional note (withdrawing its approval)."""
        from .decisions import reject

        return reject(self, shot, take, note, by)

    def takes(self) -> list[Any]:
        """Every shot's takes and the decision that applies (:class:`~reelmake.engine.decisions.ShotTakes`)."""
        from .decisions import shot_takes

        return shot_takes(self)

    # -- export --------------------------------------------------------------------------------
    def export(self, fmt: str, *, deliverable: str | None = None, media: str = "link",
               out: str | Path | None = None) -> Exports:
        """Each deliverable's timeline for editing software (``otio``, ``fcpxml`` or ``edl``), into ``out``
        (default ``out/<stem>/export/``, a folder per variant in a campaign); ``media``: ``link`` (symlinks
        beside the export), ``copy`` or ``cache`` (point into the cache). Returns an ``Exports``."""
        from .exporting import export

        return export(self, fmt, deliverable=deliverable, media=media, out=out)

    # -- status --------------------------------------------------------------------------------
    def status(self, now: Callable[[], float] | None = None) -> list[ShotStatus]:
        """Where every render stands, including paid tasks in flight."""
        states = self.workspace.journal.states()
        clock = (now or time.time)()
        out = []
        for job in (j for jobs in self.current_jobs().values() for j in jobs):
            state = states.get(job.key)
            if self.workspace.clips.get(job.key, verify=True) is not None:
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


__all__ = ["Cuts", "Project", "RenderSummary", "ShotStatus"]
