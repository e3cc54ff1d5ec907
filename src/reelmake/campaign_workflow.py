"""Plan, render and cut a campaign: the storyboard workflow, once across all variants.

Every variant's pending jobs go to one orchestrator run under ``<variant>/<job id>`` names; the
orchestrator groups equal render keys, so a clip shared by variants is rendered (and paid for) once,
under one budget: the campaign's ``budget`` and ``--max-cost``, whichever is lower. Each finished
render is recorded in the campaign lock for every variant that uses it; then every variant is cut
to ``out/<campaign>/<variant>/<deliverable>.mp4``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from .backends.base import RenderJob
from .cache import Cache, default_cache_dir
from .campaign import Campaign, load_campaign
from .campaign_plan import LOCK_SEPARATOR, CampaignPlan, lock_key, plan_campaign
from .catalog import money_json
from .compile import compile_storyboard
from .journal import Journal
from .lock import LockFile
from .orchestrator import EventCallback, Orchestrator, RenderOptions, RunResult
from .workflow import Project, RenderSummary, cut_project, runtime_settings

PENDING = ("new", "changed", "in_flight")


@dataclass
class CampaignProject:
    """A loaded campaign with the project's cache and journal, and the campaign lock."""

    campaign: Campaign
    cache: Cache
    journal: Journal
    lock: LockFile

    @classmethod
    def open(cls, path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
             variants: list[str] | None = None) -> CampaignProject:
        campaign = load_campaign(path, backend=backend, variants=variants)
        cache = Cache(Path(cache_dir) if cache_dir else default_cache_dir(campaign.root))
        return cls(campaign, cache, Journal(cache.root / "journal.jsonl"), LockFile.read(campaign.lock_path))

    def plan(self, force: Iterable[str] = ()) -> CampaignPlan:
        in_flight = {k: s for k, s in self.journal.in_flight().items() if s.backend != "?"}
        result = plan_campaign(self.campaign, self.cache.hashes, cached=self.cache.has, lock=self.lock.entries,
                               in_flight=in_flight, force=force)
        self.cache.hashes.save()
        return result

    def out_dir(self, variant_id: str, out: str | Path | None = None) -> Path:
        base = Path(out) if out else self.campaign.root / "out" / self.campaign.name
        return base / variant_id


def select_jobs(cp: CampaignPlan, only: Iterable[str] = ()) -> list[RenderJob]:
    """Every variant's pending jobs, named ``<variant>/<job id>``; ``only`` takes job ids or variant/job ids.

    Jobs that share a render key stay separate here: the orchestrator renders the key once and
    reports it to each, so each variant's lock entry is written.
    """
    only = set(only)
    jobs = []
    for vp in cp.variants:
        for row in vp.plan.rows:
            if row.status not in PENDING or row.job is None:
                continue
            name = lock_key(vp.id, row.id)
            if only and not ({row.id, row.id.split("@")[0], name} & only):
                continue
            jobs.append(replace(row.job, shot_id=name))
    return jobs


def pending_cost(cp: CampaignPlan, jobs: list[RenderJob]) -> Decimal:
    """What submitting ``jobs`` costs: each key once, tasks already in flight excluded (paid already)."""
    in_flight = {row.key for vp in cp.variants for row in vp.plan.in_flight}
    unique = {job.key: job.cost for job in jobs if job.key not in in_flight}
    return sum(unique.values(), Decimal(0))


def effective_cap(campaign: Campaign, max_cost: Decimal | None) -> Decimal | None:
    caps = [c for c in (max_cost, campaign.budget) if c is not None]
    return min(caps) if caps else None


def backend_settings(campaign: Campaign) -> dict[str, dict[str, Any]]:
    """Backend settings across variants; variants of one template normally agree, the first one wins."""
    merged: dict[str, dict[str, Any]] = {}
    for variant in campaign.variants:
        for name, settings in runtime_settings(variant.storyboard).items():
            merged.setdefault(name, settings)
    return merged


async def render_async(project: CampaignProject, cp: CampaignPlan, options: RenderOptions, *,
                       only: Iterable[str] = (), on_event: EventCallback | None = None) -> RunResult:
    """Render the campaign's pending clips once each; record every variant's renders in the campaign lock."""
    jobs = select_jobs(cp, only)

    def rendered(job: RenderJob, outcome: Any) -> None:
        entry = project.cache.get(job.key)
        if entry is not None:
            project.lock.record(job, clip_sha256=entry.sha256, task_id=outcome.task_id or entry.meta.get("task_id"))

    orchestrator = Orchestrator(project.cache, project.journal, options, on_event or (lambda *a: None),
                                backend_settings(project.campaign), rendered)
    result = await orchestrator.run(jobs)
    for vp in cp.variants:  # clips rendered before (elsewhere, by a teammate) still belong in the lock
        for row in vp.plan.rows:
            entry = project.cache.get(row.key) if row.status == "cached" and row.job else None
            if entry is not None:
                project.lock.record(replace(row.job, shot_id=lock_key(vp.id, row.id)), clip_sha256=entry.sha256,
                                    task_id=entry.meta.get("task_id"))
    if not only and not project.campaign.selected:
        current = [lock_key(vp.id, row.id) for vp in cp.variants for row in vp.plan.rows]
        project.lock.retain(current)
    project.lock.flush()  # the lock writes in the background; it is on disk before the run reports done
    return result


@dataclass
class CampaignRenderSummary:
    plan: CampaignPlan
    result: RunResult
    variants: dict[str, RenderSummary] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result.ok and all(not s.cut_errors for s in self.variants.values())

    def to_json(self) -> dict[str, Any]:
        """SPEC §5's render summary; ids are ``variant/shot`` and outputs are grouped by variant."""
        cached = [lock_key(vp.id, r.id) for vp in self.plan.variants for r in vp.plan.rows if r.status == "cached"]
        return {
            "campaign": self.plan.campaign.name,
            "rendered": self.result.ids("rendered"),
            "cached": cached + self.result.ids("cached"),
            "failed": self.result.failures(),
            "spent": money_json(self.result.spent),
            "outputs": {vid: {name: str(path) for name, path in s.outputs.items()} for vid, s in self.variants.items()},
            "cut_errors": {vid: s.cut_errors for vid, s in self.variants.items() if s.cut_errors},
            "interrupted": self.result.interrupted,
        }


def _variant_result(result: RunResult, variant_id: str) -> RunResult:
    """The run as one variant saw it, with its own job ids (what the storyboard cut expects)."""
    prefix = variant_id + LOCK_SEPARATOR
    outcomes = []
    for outcome in result.outcomes:
        ids = [i[len(prefix):] for i in outcome.job_ids if i.startswith(prefix)]
        if ids:
            outcomes.append(replace(outcome, job_ids=ids))
    return RunResult(outcomes, result.interrupted)


def cut_campaign(project: CampaignProject, summary: CampaignRenderSummary, *, out: str | Path | None = None,
                 deliverable: str | None = None, partial: bool = False, draft: bool = False) -> CampaignRenderSummary:
    """Cut every variant's deliverables from the cache into ``out/<campaign>/<variant>/``."""
    for vp in summary.plan.variants:
        sb = vp.variant.storyboard
        jobs = [row.job for row in vp.plan.rows if row.job is not None] or compile_storyboard(sb, project.cache.hashes)
        variant_project = Project(sb, project.cache, project.journal, project.lock, jobs)
        variant_summary = RenderSummary(vp.plan, _variant_result(summary.result, vp.id))
        summary.variants[vp.id] = cut_project(variant_project, variant_summary, out=project.out_dir(vp.id, out),
                                              deliverable=deliverable, partial=partial, draft=draft)
    return summary


def render(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
           variants: list[str] | None = None, options: RenderOptions | None = None, only: Iterable[str] = (),
           force: Iterable[str] = (), cut: bool = True, out: str | Path | None = None,
           on_event: EventCallback | None = None) -> CampaignRenderSummary:
    """Render a campaign's unique pending clips once, under the campaign budget, then cut every variant."""
    project = CampaignProject.open(path, backend=backend, cache_dir=cache_dir, variants=variants)
    cp = project.plan(force)
    options = options or RenderOptions()
    options = replace(options, max_cost=effective_cap(project.campaign, options.max_cost))
    result = asyncio.run(render_async(project, cp, options, only=only, on_event=on_event))
    summary = CampaignRenderSummary(cp, result)
    if cut and not result.interrupted:
        cut_campaign(project, summary, out=out)
    return summary


def plan(path: str | Path, *, backend: str | None = None, cache_dir: str | Path | None = None,
         variants: list[str] | None = None, force: Iterable[str] = ()) -> CampaignPlan:
    """Validate every variant, compile, and compare with the campaign lock, the cache and the journal."""
    return CampaignProject.open(path, backend=backend, cache_dir=cache_dir, variants=variants).plan(force)
