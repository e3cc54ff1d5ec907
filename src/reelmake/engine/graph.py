"""Running the build graph (:mod:`reelmake.core.graph`) against the workspace.

- :class:`GraphCompiler` compiles each variant's jobs from the upstream outputs that exist now: a
  generated image from the clip store, a frame extracted from a stored clip (:mod:`.frames`). A job
  whose upstream output does not exist yet is provisional.
- :class:`Gate` is what the orchestrator asks before it starts a job: a provisional job waits until
  every upstream job it needs has finished in this run, then is compiled again from their outputs
  (now with its final render key, which may even be cached); when an upstream job failed, was skipped
  or is held, the job is *blocked* and never submitted. Before the first job of a paid chain starts,
  the gate reserves what its dependants will cost, so a chain that does not fit the budget is not
  started at all, rather than paid for halfway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog import money
from ..core.graph import Artifact, CompiledGraph, compile_graph
from ..core.model import Campaign, Variant
from ..core.plan import Plan
from ..jobs import JobId, RenderJob
from .budget import Budget
from .frames import extract_frame
from .workspace import Workspace

FINE = ("rendered", "cached")


def artifacts(workspace: Workspace) -> Artifact:
    """Upstream outputs as the clip store has them: a generated image's file, or the requested frame of
    a clip (extracted the first time it is asked for)."""

    def find(job: RenderJob, frame: str | None) -> tuple[Path, str] | None:
        entry = workspace.clips.get(job.key, verify=True)
        if entry is None:
            return None
        if frame is None:
            return entry.clip, entry.sha256
        made = extract_frame(workspace.clips, entry, frame, workspace.tmp_dir())
        return made.clip, made.sha256

    return find


@dataclass
class GraphCompiler:
    """Compiles a loaded file's variants against the workspace (which outputs exist) and the lock (which
    upstream take is approved, which further takes it records)."""

    campaign: Campaign
    digests: Callable[[str], tuple[Path, str]]
    workspace: Workspace
    lock: Any  # LockFile
    graphs: dict[str, CompiledGraph] = field(default_factory=dict)

    def _recorded(self) -> Callable[[str, JobId], Mapping[int, str]]:
        indexes: dict[str, dict[JobId, dict[int, str]]] = {}

        def recorded(backend: str, base: JobId) -> Mapping[int, str]:
            if backend not in indexes:
                indexes[backend] = self.lock.take_index(backend)
            return indexes[backend].get(base, {})

        return recorded

    def compile(self, variant: Variant, only: Iterable[str] | None = None) -> CompiledGraph:
        return compile_graph(variant.storyboard, self.digests, variant=variant.id,
                             artifact=artifacts(self.workspace), decisions=self.lock.decisions,
                             recorded=self._recorded(), only=only)

    def jobs(self) -> dict[str, list[RenderJob]]:
        """Every variant's jobs, compiled afresh (after a render: from what it produced)."""
        self.graphs = {v.id: self.compile(v) for v in self.campaign.variants}
        return {vid: list(graph.jobs) for vid, graph in self.graphs.items()}

    def compile_take(self, variant: Variant) -> Callable[[RenderJob, int], RenderJob]:
        """Take k of a job's node and ratio, compiled as it stands now."""
        def compile_take(job: RenderJob, take: int) -> RenderJob:
            graph = self.graphs.get(variant.id) or self.graphs.setdefault(variant.id, self.compile(variant))
            return graph.compile(job.id.shot, job.id.aspect, take)
        return compile_take

    def recompile(self, job: RenderJob) -> RenderJob:
        """``job`` compiled again now that (some of) its upstream outputs exist."""
        variant = self.campaign.variant(job.id.variant)
        graph = self.compile(variant, only=[job.id.shot])
        return graph.compile(job.id.shot, job.id.aspect, job.id.take)


def upstream_rows(plan: Plan, jobs: list[RenderJob]) -> dict[str, list[str]]:
    """What ``jobs`` (an ``--only`` selection) need rendered first that is not among them: upstream job
    id → the ids needing it, transitively, from the plan's pending rows."""
    by_key = {row.key: row for row in plan.rows if row.job is not None and row.status in ("new", "changed",
                                                                                         "in_flight")}
    chosen = {job.key for job in jobs}
    needed: dict[str, list[str]] = {}
    stack = list(jobs)
    while stack:
        job = stack.pop()
        for upstream in job.waiting:
            row = by_key.get(upstream.key)
            if row is None or row.job is None or row.held_by:
                continue
            needed.setdefault(str(row.id), [])
            if job.shot_id not in needed[str(row.id)]:
                needed[str(row.id)].append(job.shot_id)
            if row.key not in chosen:
                chosen.add(row.key)
                stack.append(row.job)
    position = {str(row.id): i for i, row in enumerate(plan.rows)}
    return dict(sorted(needed.items(), key=lambda item: position.get(item[0], 0)))


@dataclass
class Gate:
    """Starts each job when its inputs exist (see the module docstring). Keys are the render keys the
    jobs had when planned: a provisional job names its upstream by that key."""

    jobs: list[RenderJob]
    recompile: Callable[[RenderJob], RenderJob]
    on_event: Callable[[str, str, str], None]
    budget: Budget | None = None
    _done: dict[str, asyncio.Future] = field(default_factory=dict)
    _holds: dict[str, Decimal] = field(default_factory=dict)  # planned key → reserved for it by its chain

    def __post_init__(self) -> None:
        loop = asyncio.get_running_loop()
        self._done = {job.key: loop.create_future() for job in self.jobs}
        self._cost = {job.key: job.cost for job in self.jobs}

    def _below(self, key: str) -> list[str]:
        """The planned keys of this run's jobs compiled (directly or further down) from ``key``'s output."""
        out: list[str] = []
        frontier = [key]
        while frontier:
            current = frontier.pop()
            for job in self.jobs:
                if job.key not in out and any(u.key == current for u in job.waiting):
                    out.append(job.key)
                    frontier.append(job.key)
        return out

    async def _hold_chain(self, job: RenderJob) -> str | None:
        """Reserve what ``job``'s dependants in this run will cost before ``job`` starts; why not, if not."""
        if self.budget is None:
            return None
        below = [k for k in dict.fromkeys(self._below(job.key)) if k not in self._holds]
        amount = sum((self._cost[k] for k in below), Decimal(0))
        if amount == 0:
            return None
        # The chain must fit whole, its first render included: reserve all of it at once, then hand the
        # first render's share back for the orchestrator to reserve as it submits.
        total = amount + job.cost
        if not await asyncio.to_thread(self.budget.reserve, total):
            return (f"the chain from {job.shot_id} costs {money(total)} with the {len(below)} render(s) made from "
                    f"it, which would exceed the cap of {money(self.budget.cap)}; nothing of it was submitted")
        if job.cost:
            await asyncio.to_thread(self.budget.release, job.cost, committed=False)
        self._holds.update({k: self._cost[k] for k in below})
        return None

    async def _release(self, key: str) -> None:
        amount = self._holds.pop(key, None)
        if amount and self.budget is not None:
            await asyncio.to_thread(self.budget.release, amount, committed=False)

    async def ready(self, group: list[RenderJob]) -> list[RenderJob] | tuple[str, str]:
        """The group to render (compiled again when it was provisional), or (status, why) when it cannot
        start: "blocked" (an upstream did not render) or "skipped" (its chain does not fit the budget)."""
        job = group[0]
        for upstream in job.waiting:
            future = self._done.get(upstream.key)
            if future is None:
                await self._release(job.key)
                return "blocked", f"{upstream.node} is not rendered by this run; nothing was submitted"
            if not future.done():
                self.on_event(job.shot_id, "queued", f"waiting for {upstream.node}")
            status, why = await asyncio.shield(future)
            if status not in FINE:
                await self._release(job.key)
                return "blocked", f"{upstream.node} {status}{': ' + why if why else ''}; nothing was submitted"
        await self._release(job.key)  # its own reservation is the orchestrator's from here
        if job.waiting:
            group = [await asyncio.to_thread(self.recompile, member) for member in group]
            missing = [u.node for u in group[0].waiting]
            if missing:
                return "blocked", f"the output of {', '.join(missing)} is missing after it rendered; nothing was submitted"
        refused = await self._hold_chain(job)
        if refused:
            return "skipped", refused
        return group

    def finish(self, key: str, status: str, error: str | None) -> None:
        """A planned key's job ended (however): its dependants may go on, or are blocked."""
        future = self._done.get(key)
        if future is not None and not future.done():
            future.set_result((status, error or ""))

    async def close(self) -> None:
        """Release what is still reserved for chains that never ran."""
        for key in list(self._holds):
            await self._release(key)


def settle(jobs: Mapping[str, list[RenderJob]], current: Mapping[str, list[RenderJob]]) -> dict[str, list[RenderJob]]:
    """``jobs`` (a plan's) with each provisional job replaced by the same job as compiled ``current``ly,
    so a cut after a render finds the clips its downstream jobs rendered into."""
    latest = {job.id: job for variant_jobs in current.values() for job in variant_jobs}
    return {vid: [latest.get(job.id, job) if job.provisional else job for job in variant_jobs]
            for vid, variant_jobs in jobs.items()}
