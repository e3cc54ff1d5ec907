"""The plan: for every render of every variant, whether it is cached, new, changed (and which
fields), in flight or removed; what this run will cost and what everything costs from scratch. Pure.

A storyboard is a campaign of one variant, so there is one plan for both::

    Plan ── variants: VariantPlan ── rows: PlanRow (one per job: shot × ratio × take)
      │                          └── removed: PlanRow (in the lock, no longer in the storyboard)
      └── unique_rows / to_render: each render key once, whichever variants share it

Shots with equal render keys are the same clip, whichever variant asks for it: ``render_cost``
counts each pending key once, ``cost_without_dedup`` what the variants would cost planned one by one.

Rows follow the build graph (:mod:`reelmake.core.graph`): generated images are rows of their own
(``kind`` "image"), and a row whose upstream output is still to render this run is planned from a
provisional job (``waiting_for``): it is priced and counted (a chain is budgeted whole before anything
is submitted) and its key is known only once the upstream exists. A row ``held_by`` an upstream that
waits for approval is not rendered by this run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Any

from ..catalog import get_model, money_json
from ..errors import BackendUnavailable
from ..plugins import get_plugin
from ..jobs import JobId, RenderJob
from .changes import changed_fields
from .model import Campaign, Variant

TO_RENDER = ("new", "changed")
PENDING = ("new", "changed", "in_flight")


@dataclass(frozen=True)
class PlanRow:
    id: JobId
    backend: str
    model: str
    duration: float
    aspect_ratio: str
    mode: str
    cost: Decimal
    status: str  # new | changed | cached | in_flight | removed
    key: str
    changed: tuple[str, ...] = ()
    task_id: str | None = None
    gpu_seconds: float | None = None  # estimated, for local models whose catalog entry has a figure
    job: RenderJob | None = field(default=None, compare=False, repr=False)
    takes: int = 1  # how many takes of this shot (at this ratio) the plan holds
    forced: bool = False  # a new take asked for with --force or `reelmake take`
    supersedes: int | None = None  # the approved take this render replaces
    where: str | None = None  # a cached clip: "local" (this workspace) or "remote" (the team's store)
    kind: str = "shot"  # "shot" | "image" (a generated image)
    needs: tuple[str, ...] = ()  # the nodes whose outputs it is compiled from
    waiting_for: tuple[str, ...] = ()  # those still to render: its key is known once they are
    held_by: tuple[str, ...] = ()  # upstream nodes waiting for approval: not rendered by this run

    @property
    def to_render(self) -> bool:
        """Rendered by this run: new or changed, and not held for an approval."""
        return self.status in TO_RENDER and not self.held_by

    @property
    def name(self) -> str:
        """The row's id within its variant: ``shot``, ``shot@9:16``, ``shot#2``."""
        return self.id.in_variant

    @property
    def take(self) -> int:
        return self.id.take

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.name, "shot": self.id.shot, "take": self.take, "takes": self.takes, "backend": self.backend,
            "model": self.model, "duration": self.duration, "aspect_ratio": self.aspect_ratio, "mode": self.mode,
            "cost": money_json(self.cost), "status": self.status, "changed": list(self.changed), "key": self.key,
            "task_id": self.task_id, "gpu_seconds": self.gpu_seconds, "forced": self.forced,
            "supersedes_approved": self.supersedes, "where": self.where, "kind": self.kind, "needs": list(self.needs),
            "waiting_for": list(self.waiting_for), "held_by": list(self.held_by),
        } | ({"key": None} if self.waiting_for else {})


@dataclass(frozen=True)
class VariantPlan:
    """One variant planned alone: its rows, and what it would cost without sharing."""

    variant: Variant
    rows: tuple[PlanRow, ...]
    removed: tuple[PlanRow, ...] = ()

    @property
    def id(self) -> str:
        return self.variant.id

    @property
    def to_render(self) -> list[PlanRow]:
        return [r for r in self.rows if r.to_render]

    @property
    def render_cost(self) -> Decimal:
        return sum((r.cost for r in self.to_render), Decimal(0))

    @property
    def total_cost(self) -> Decimal:
        return sum((r.cost for r in self.rows), Decimal(0))

    @property
    def budget(self) -> Decimal | None:
        return self.variant.storyboard.budget

    @property
    def within_budget(self) -> bool:
        return self.budget is None or self.render_cost <= self.budget

    @property
    def pending(self) -> bool:
        return any(r.status in PENDING for r in self.rows)

    @property
    def affected(self) -> bool:
        """Whether anything differs from the lock: a render pending or a shot removed."""
        return bool(self.pending or self.removed)

    def counts(self) -> dict[str, int]:
        return {status: sum(1 for r in self.rows if r.status == status)
                for status in ("new", "changed", "cached", "in_flight")}


@dataclass(frozen=True)
class Plan:
    campaign: Campaign
    variants: tuple[VariantPlan, ...]
    removed_variants: tuple[str, ...] = ()
    previous_total: Decimal | None = None  # from-scratch cost of what the lock records, de-duplicated

    # -- every row -----------------------------------------------------------------------------
    @property
    def rows(self) -> list[PlanRow]:
        return [r for vp in self.variants for r in vp.rows]

    @property
    def removed(self) -> list[PlanRow]:
        return [r for vp in self.variants for r in vp.removed]

    def variant_plan(self, variant_id: str) -> VariantPlan:
        for vp in self.variants:
            if vp.id == variant_id:
                return vp
        raise KeyError(variant_id)

    @cached_property
    def sharing(self) -> dict[str, list[str]]:
        """Render key → ids of the variants that use that clip, in campaign order."""
        out: dict[str, list[str]] = {}
        for vp in self.variants:
            for row in vp.rows:
                ids = out.setdefault(row.key, [])
                if vp.id not in ids:
                    ids.append(vp.id)
        return out

    @cached_property
    def unique_rows(self) -> dict[str, PlanRow]:
        """One row per distinct render key (the first variant's), in campaign order."""
        out: dict[str, PlanRow] = {}
        for row in self.rows:
            out.setdefault(row.key, row)
        return out

    @cached_property
    def to_render(self) -> list[PlanRow]:
        """The renders this run submits: each pending key once, even if variants disagree on why."""
        pending = {row.key for row in self.rows if row.to_render}
        return [row for key, row in self.unique_rows.items() if key in pending]

    @property
    def in_flight(self) -> list[PlanRow]:
        return [r for r in self.unique_rows.values() if r.status == "in_flight"]

    @property
    def held(self) -> list[PlanRow]:
        """Rows waiting for an approval upstream: not rendered by this run."""
        return [r for r in self.rows if r.held_by and r.status in PENDING]

    def jobs(self, only: Iterable[str] = ()) -> list[RenderJob]:
        """The jobs a render runs: every pending row (new, changed, in flight) not held for an approval,
        narrowed by ``only`` selectors. Rows sharing a key stay separate: the engine renders the key once
        and records it for each."""
        selectors = list(only)
        return [row.job for row in self.rows
                if row.status in PENDING and row.job is not None and not row.held_by
                and (not selectors or any(row.id.matches(s) for s in selectors))]

    # -- money ---------------------------------------------------------------------------------
    @property
    def render_cost(self) -> Decimal:
        """What this run will submit (tasks already in flight were paid for when submitted)."""
        return sum((row.cost for row in self.to_render), Decimal(0))

    @property
    def cost_without_dedup(self) -> Decimal:
        return sum((vp.render_cost for vp in self.variants), Decimal(0))

    @property
    def total_cost(self) -> Decimal:
        """Every clip of every variant from scratch, each distinct clip once."""
        return sum((row.cost for row in self.unique_rows.values()), Decimal(0))

    @property
    def gpu_seconds(self) -> float:
        """Estimated GPU time of this run's local renders (0 when no figure is known)."""
        return sum(r.gpu_seconds or 0.0 for r in self.to_render)

    @property
    def budget(self) -> Decimal | None:
        return self.campaign.budget

    @property
    def over_budget_variants(self) -> list[str]:
        """Variants whose own storyboard budget their renders would exceed, were they planned alone."""
        return [vp.id for vp in self.variants if not vp.within_budget]

    @property
    def within_budget(self) -> bool:
        within = self.budget is None or self.render_cost <= self.budget
        return within and not self.over_budget_variants

    @property
    def pending(self) -> bool:
        return any(vp.pending for vp in self.variants)

    @property
    def affected(self) -> list[VariantPlan]:
        return [vp for vp in self.variants if vp.affected]

    # -- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """SPEC §5's ``plan --json`` for a storyboard, SPEC §6's for a campaign; money as decimal strings."""
        budget = money_json(self.budget) if self.budget is not None else None
        if not self.campaign.is_campaign:
            vp = self.variants[0]
            return {
                "storyboard": str(self.campaign.path),
                "shots": [r.to_json() for r in (*vp.rows, *vp.removed)],
                "render_cost": money_json(self.render_cost),
                "total_cost": money_json(self.total_cost),
                "budget": budget,
                "within_budget": self.within_budget,
            }
        variants = []
        for vp in self.variants:
            shots = [{**row.to_json(), "shared_by": len(self.sharing.get(row.key, ()))}
                     for row in (*vp.rows, *vp.removed)]
            variants.append({
                "id": vp.id,
                "vars": _jsonable(vp.variant.vars),
                "shots": shots,
                "render_cost": money_json(vp.render_cost),
                "total_cost": money_json(vp.total_cost),
                "budget": money_json(vp.budget) if vp.budget is not None else None,
                "within_budget": vp.within_budget,
            })
        return {
            "campaign": self.campaign.name,
            "file": str(self.campaign.path),
            "variants": variants,
            "removed_variants": list(self.removed_variants),
            "unique_renders": len(self.to_render),
            "unique_clips": len(self.unique_rows),
            "render_cost": money_json(self.render_cost),
            "cost_without_dedup": money_json(self.cost_without_dedup),
            "total_cost": money_json(self.total_cost),
            "budget": budget,
            "within_budget": self.within_budget,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # dates and the like, as YAML wrote them


def _row(job: RenderJob, status: str, changes: tuple[str, ...] = (), task_id: str | None = None,
         forced: bool = False) -> PlanRow:
    model = get_model(job.model, job.backend)
    rate = model.limit("gpu_seconds_per_second") if model else None
    return PlanRow(job.id, job.backend, job.model, job.duration, job.aspect_ratio, job.mode, job.cost, status,
                   job.key, changes, task_id, rate * job.duration if rate else None, job, forced=forced,
                   kind="image" if job.kind == "image" else "shot",
                   needs=tuple(dict.fromkeys(u.node for u in job.upstream)),
                   waiting_for=tuple(dict.fromkeys(u.node for u in job.waiting)),
                   held_by=tuple(dict.fromkeys(job.held_by)))


# The lock as the plan reads it: backend → job id (``str(JobId)``) → the entry recorded for it.
LockSections = Mapping[str, Mapping[str, Mapping[str, Any]]]


def _parsed(section: Mapping[str, Any]) -> list[tuple[str, JobId]]:
    out = []
    for name in section:
        try:
            out.append((name, JobId.parse(name)))
        except ValueError:
            continue  # a hand-edited lock key: not ours to read
    return out


def _on_another_host(lock: LockSections, job: RenderJob) -> Mapping[str, Any] | None:
    """The entry a job has under another paid host, when it has none under its own: switching ``host:``
    replaces the final (the plan says "host changed"), while a free preview's entries stay apart."""
    if not _paid(job.backend):
        return None
    return next((section[str(job.id)] for backend, section in lock.items()
                 if backend != job.backend and str(job.id) in section and _paid(backend)), None)


def _paid(backend: str) -> bool:
    try:
        return get_plugin(backend).remote
    except BackendUnavailable:
        return False


def plan_variant(
    variant: Variant,
    jobs: list[RenderJob],
    lock: LockSections,
    cached: Callable[[str], bool],
    in_flight: Mapping[str, str | None],
    forced: Iterable[JobId] = (),
    decisions: Mapping[str, Mapping[str, Any]] | None = None,
    remote: Callable[[str], bool] | None = None,
) -> VariantPlan:
    """Compare one variant's compiled jobs with their backend's part of the lock, the clip store
    (``cached(key)``; ``remote(key)``: in the team's remote store) and the journal (``in_flight``: render
    key → provider task id). ``forced``: new
    takes asked for; ``decisions``: the lock's, to say when a render supersedes an approved take."""
    from .takes import base_id, superseded_approvals

    forced = set(forced)
    takes_of: dict[JobId, int] = {}
    for job in jobs:
        takes_of[base_id(job.id)] = takes_of.get(base_id(job.id), 0) + 1
    superseded = superseded_approvals(variant.id, jobs, lock, decisions or {})
    rows = []
    for job in jobs:
        old = lock.get(job.backend, {}).get(str(job.id)) or _on_another_host(lock, job)
        if job.id in forced:
            row = _row(job, "new", forced=True)
        elif job.provisional:  # its upstream renders first: its key is not final, so it cannot be cached
            row = _row(job, "new") if old is None else _row(job, "changed", changed_fields(old, job))
        elif cached(job.key):
            row = replace(_row(job, "cached"), where="local")
        elif remote is not None and remote(job.key):
            row = replace(_row(job, "cached"), where="remote")  # in the team's store: pulled, never paid again
        elif job.key in in_flight:
            row = _row(job, "in_flight", task_id=in_flight[job.key])
        elif old is None or old.get("key") == job.key:
            row = _row(job, "new")  # never rendered, or rendered elsewhere and not in this store
        else:
            row = _row(job, "changed", changed_fields(old, job))
        rows.append(replace(row, takes=takes_of[base_id(job.id)], supersedes=superseded.get(job.id)))
    bases = {base_id(job.id) for job in jobs}
    removed = []
    for backend in dict.fromkeys(job.backend for job in jobs):
        section = lock.get(backend, {})
        for name, job_id in sorted(_parsed(section)):
            if job_id.variant != variant.id or base_id(job_id) in bases:
                continue  # another variant's, or an earlier take of a shot that is still here
            entry = section[name]
            removed.append(PlanRow(job_id, str(entry.get("backend", "?")), str(entry.get("model", "?")), 0.0, "",
                                   "", Decimal(0), "removed", str(entry.get("key", ""))))
    return VariantPlan(variant, tuple(rows), tuple(removed))


def _previous_total(entries: Mapping[str, Mapping[str, Any]]) -> Decimal | None:
    if not entries:
        return None
    costs: dict[str, Decimal] = {}
    for entry in entries.values():
        try:
            costs[str(entry.get("key"))] = Decimal(str(entry.get("cost", "0")))
        except ArithmeticError:
            continue  # a hand-edited lock; the delta is a courtesy, not worth failing the plan for
    return sum(costs.values(), Decimal(0))


def make_plan(
    campaign: Campaign,
    jobs: Mapping[str, list[RenderJob]],
    lock: LockSections,
    cached: Callable[[str], bool],
    in_flight: Mapping[str, str | None] | None = None,
    forced: Iterable[JobId] = (),
    decisions: Mapping[str, Mapping[str, Any]] | None = None,
    remote: Callable[[str], bool] | None = None,
) -> Plan:
    """Plan every variant (``jobs`` by variant id) against its part of the lock (``lock``: backend →
    job id → entry, so previews and finals are compared each with their own), then de-duplicate.

    Variants the lock has but the file no longer names are reported as removed; variants merely not
    selected (``--variant``) are not."""
    in_flight = in_flight or {}
    forced = list(forced)
    known_cached: dict[str, bool] = {}

    def is_cached(key: str) -> bool:  # variants share keys: look each up once
        if key not in known_cached:
            known_cached[key] = cached(key)
        return known_cached[key]

    plans = tuple(plan_variant(v, jobs[v.id], lock, is_cached, in_flight, forced, decisions, remote)
                  for v in campaign.variants)
    backends = {job.backend for variant_jobs in jobs.values() for job in variant_jobs}
    entries = {name: entry for backend in sorted(backends) for name, entry in lock.get(backend, {}).items()}
    if not campaign.is_campaign:
        return Plan(campaign, plans)
    in_lock = list(dict.fromkeys(key.split("/", 1)[0] for key in entries if "/" in key))
    known = set(campaign.all_variant_ids) | {v.id for v in campaign.variants}
    removed = tuple(vid for vid in in_lock if vid not in known)
    # The cost delta compares like with like: the lock's entries of the variants in this plan.
    compared = {v.id for v in campaign.variants} | set(removed)
    previous = {k: e for k, e in entries.items() if k.split("/", 1)[0] in compared}
    return Plan(campaign, plans, removed, _previous_total(previous))
