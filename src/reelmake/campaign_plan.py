"""The plan of a campaign: every variant's plan, and the renders they need once de-duplicated. Pure data.

Shots with equal render keys are the same clip, whichever variant asks for it, so the campaign renders
each key once: ``render_cost`` counts unique keys, ``cost_without_dedup`` what the variants would cost
planned one by one. The campaign lock (``<campaign stem>.lock``) keeps every variant's entries under
``<variant>/<job id>`` keys, so it diffs by variant in review.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from .campaign import Campaign, Variant
from .catalog import money, money_json
from .compile import Hasher, compile_storyboard
from .journal import TaskState
from .plan import Plan, PlanRow, make_plan

LOCK_SEPARATOR = "/"


def lock_key(variant_id: str, job_id: str) -> str:
    """A variant's render in the campaign lock: ``us-15/hero``."""
    return f"{variant_id}{LOCK_SEPARATOR}{job_id}"


def variant_lock(entries: Mapping[str, Mapping[str, Any]], variant_id: str) -> dict[str, Mapping[str, Any]]:
    """One variant's entries of the campaign lock, keyed by job id as a storyboard's lock is."""
    prefix = variant_id + LOCK_SEPARATOR
    return {key[len(prefix):]: entry for key, entry in entries.items() if key.startswith(prefix)}


def lock_variants(entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The variant ids the campaign lock knows, in order of first appearance."""
    return list(dict.fromkeys(key.split(LOCK_SEPARATOR, 1)[0] for key in entries if LOCK_SEPARATOR in key))


@dataclass(frozen=True)
class VariantPlan:
    """One variant planned alone: its rows, and what it would cost without sharing."""

    variant: Variant
    plan: Plan

    @property
    def id(self) -> str:
        return self.variant.id

    @property
    def affected(self) -> bool:
        """Whether anything in this variant differs from the lock: a render pending or a shot removed."""
        return bool(self.plan.pending or self.plan.removed)

    def counts(self) -> dict[str, int]:
        return {status: sum(1 for r in self.plan.rows if r.status == status)
                for status in ("new", "changed", "cached", "in_flight")}


@dataclass(frozen=True)
class CampaignPlan:
    campaign: Campaign
    variants: tuple[VariantPlan, ...]
    removed_variants: tuple[str, ...] = ()
    previous_total: Decimal | None = None  # from-scratch cost of what the lock records, de-duplicated

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
            for row in vp.plan.rows:
                ids = out.setdefault(row.key, [])
                if vp.id not in ids:
                    ids.append(vp.id)
        return out

    @cached_property
    def unique_rows(self) -> dict[str, PlanRow]:
        """One row per distinct render key (the first variant's), in campaign order."""
        out: dict[str, PlanRow] = {}
        for vp in self.variants:
            for row in vp.plan.rows:
                out.setdefault(row.key, row)
        return out

    @cached_property
    def to_render(self) -> list[PlanRow]:
        """The renders this campaign submits: each pending key once, even if variants disagree on why."""
        pending = {row.key for vp in self.variants for row in vp.plan.to_render}
        return [row for key, row in self.unique_rows.items() if key in pending]

    @property
    def render_cost(self) -> Decimal:
        return sum((row.cost for row in self.to_render), Decimal(0))

    @property
    def cost_without_dedup(self) -> Decimal:
        return sum((vp.plan.render_cost for vp in self.variants), Decimal(0))

    @property
    def total_cost(self) -> Decimal:
        """Every clip of every variant from scratch, each distinct clip once."""
        return sum((row.cost for row in self.unique_rows.values()), Decimal(0))

    @property
    def budget(self) -> Decimal | None:
        return self.campaign.budget

    @property
    def over_budget_variants(self) -> list[str]:
        """Variants whose own storyboard budget their renders would exceed, were they planned alone."""
        return [vp.id for vp in self.variants if not vp.plan.within_budget]

    @property
    def within_budget(self) -> bool:
        within = self.budget is None or self.render_cost <= self.budget
        return within and not self.over_budget_variants

    @property
    def pending(self) -> bool:
        return any(vp.plan.pending for vp in self.variants)

    @property
    def affected(self) -> list[VariantPlan]:
        return [vp for vp in self.variants if vp.affected]

    def to_json(self) -> dict[str, Any]:
        """SPEC §6's ``plan --json`` for a campaign; money as decimal strings."""
        variants = []
        for vp in self.variants:
            shots = [{**row.to_json(), "shared_by": len(self.sharing.get(row.key, ()))}
                     for row in (*vp.plan.rows, *vp.plan.removed)]
            variants.append({
                "id": vp.id,
                "vars": _jsonable(vp.variant.vars),
                "shots": shots,
                "render_cost": money_json(vp.plan.render_cost),
                "total_cost": money_json(vp.plan.total_cost),
                "budget": money_json(vp.plan.budget) if vp.plan.budget is not None else None,
                "within_budget": vp.plan.within_budget,
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
            "budget": money_json(self.budget) if self.budget is not None else None,
            "within_budget": self.within_budget,
        }

    def summary_line(self) -> str:
        """One line: renders after de-duplication, their cost, the saving, the budget verdict."""
        renders = f"{len(self.to_render)} unique render{'' if len(self.to_render) == 1 else 's'}"
        text = (f"Campaign {self.campaign.name}: {len(self.variants)} variants, {renders} "
                f"({money(self.render_cost)}; {money(self.cost_without_dedup)} without de-duplication), "
                f"{len(self.unique_rows) - len(self.to_render)} cached. "
                f"From scratch: {money(self.total_cost)}.")
        if self.budget is not None:
            verdict = "within budget" if self.render_cost <= self.budget else "OVER BUDGET"
            text += f" Budget {money(self.budget)}: {verdict}."
        if self.over_budget_variants:
            text += f" Over their own storyboard budget: {', '.join(self.over_budget_variants)}."
        return text

    def text_lines(self) -> list[str]:
        """The terminal table: one line per variant, then the summary."""
        width = max((len(vp.id) for vp in self.variants), default=7)
        lines = [f"  {'variant':<{width}}  shots  new  changed  cached  in flight  render cost  from scratch"]
        for vp in self.variants:
            c = vp.counts()
            lines.append(f"  {vp.id:<{width}}  {len(vp.plan.rows):>5}  {c['new']:>3}  {c['changed']:>7}  "
                         f"{c['cached']:>6}  {c['in_flight']:>9}  {money(vp.plan.render_cost):>11}  "
                         f"{money(vp.plan.total_cost):>12}")
        for vid in self.removed_variants:
            lines.append(f"  {vid:<{width}}  removed from the campaign (its clips stay in the cache)")
        return [*lines, "", self.summary_line()]

    def to_markdown(self) -> str:
        """A pull-request comment: what changed against the lock, which variants, and the cost delta."""
        from .campaign_markdown import plan_markdown

        return plan_markdown(self)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # dates and the like, as YAML wrote them


def _memo(hasher: Hasher) -> Hasher:
    """Each reference file hashed (or stat-checked) once per plan, however many variants use it."""
    seen: dict[Path, str] = {}

    def hashed(path: Path) -> str:
        if path not in seen:
            seen[path] = hasher(path)
        return seen[path]

    return hashed


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


def plan_campaign(
    campaign: Campaign,
    hasher: Hasher,
    *,
    cached: Callable[[str], bool],
    lock: Mapping[str, Mapping[str, Any]] | None = None,
    in_flight: Mapping[str, TaskState] | None = None,
    force: Iterable[str] = (),
) -> CampaignPlan:
    """Plan every variant against its part of the campaign lock, then de-duplicate across variants.

    ``lock`` is the campaign lock's entries (``variant/job`` keys); ``force`` takes job ids (every
    variant) or ``variant/job`` ids (one variant). Variants the lock has but the campaign file no
    longer names are reported as removed; variants merely not selected are not.
    """
    lock = lock or {}
    force = set(force)
    hashed = _memo(hasher)
    known_cached: dict[str, bool] = {}

    def is_cached(key: str) -> bool:  # variants share keys: look each up in the cache once
        if key not in known_cached:
            known_cached[key] = cached(key)
        return known_cached[key]

    plans = []
    for variant in campaign.variants:
        jobs = compile_storyboard(variant.storyboard, hashed)
        mine = {f.split(LOCK_SEPARATOR, 1)[1] for f in force if f.startswith(variant.id + LOCK_SEPARATOR)}
        forced = {f for f in force if LOCK_SEPARATOR not in f} | mine
        plan = make_plan(variant.storyboard, jobs, variant_lock(lock, variant.id), is_cached, in_flight, forced)
        plans.append(VariantPlan(variant, plan))
    known = set(campaign.all_variant_ids) | {v.id for v in campaign.variants}
    removed = tuple(vid for vid in lock_variants(lock) if vid not in known)
    # The cost delta compares like with like: the lock's entries of the variants in this plan.
    compared = {v.id for v in campaign.variants} | set(removed)
    previous = {k: e for k, e in lock.items() if k.split(LOCK_SEPARATOR, 1)[0] in compared}
    return CampaignPlan(campaign, tuple(plans), removed, _previous_total(previous))
