"""The same plan on every host that offers its models, for ``plan --hosts``. Pure.

For each host, every shot whose model that host offers is moved there (its model and everything else
unchanged) and validated again, since hosts differ in limits; shots it cannot render are listed as
unavailable and left out of its costs. The storyboards so re-hosted are compiled and planned against
the same lock and clip store as the real plan, so ``render_cost`` is what switching to that host would
submit now and ``total_cost`` what the whole storyboard costs there from scratch.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..catalog import get_model, hosts_for, money_json
from . import rules
from .graph import compile_storyboard
from .model import Campaign, Storyboard, Variant
from .plan import LockSections, Plan, make_plan

_SHOT_PATH = re.compile(r"shots\[(\d+)\]")


@dataclass(frozen=True)
class HostPlan:
    """One host's column: its plan of the shots it can render, and the shots it cannot."""

    host: str
    plan: Plan
    unavailable: tuple[str, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)  # unavailable id → why

    @property
    def render_cost(self) -> Decimal:
        return self.plan.render_cost

    @property
    def total_cost(self) -> Decimal:
        return self.plan.total_cost

    def costs(self) -> dict[str, Decimal]:
        """Job id (``[variant/]shot[@ratio]``) → what it costs from scratch on this host."""
        return {str(row.id): row.cost for row in self.plan.rows}

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "render_cost": money_json(self.render_cost),
                "total_cost": money_json(self.total_cost), "unavailable": list(self.unavailable),
                "shots": {name: money_json(cost) for name, cost in self.costs().items()}}


@dataclass(frozen=True)
class HostComparison:
    hosts: tuple[HostPlan, ...]
    current: Plan
    job_ids: tuple[str, ...] = field(default=())

    def to_json(self) -> list[dict[str, Any]]:
        return [host.to_json() for host in self.hosts]


def hosts_of(campaign: Campaign) -> list[str]:
    """Every host that offers a model the campaign uses, each model's default host first."""
    out: list[str] = []
    for variant in campaign.variants:
        for shot in variant.storyboard.shots:
            for host in hosts_for(shot.model):
                if host not in out:
                    out.append(host)
    return out


def rehost(sb: Storyboard, host: str) -> tuple[Storyboard | None, dict[str, str]]:
    """``sb`` with every shot ``host`` can render moved to it; the shots it cannot, with the reason."""
    moved, unavailable = [], {}
    for shot in sb.shots:
        if get_model(shot.model, host) is None:
            unavailable[shot.id] = f"{host} does not offer {shot.model}"
        else:
            moved.append(dataclasses.replace(shot, backend=host))
    candidate = dataclasses.replace(sb, shots=tuple(moved))
    for problem in rules.check(candidate, str(sb.path)):
        match = _SHOT_PATH.match(problem.path)
        if problem.severity == "error" and match and int(match.group(1)) < len(sb.shots):
            unavailable.setdefault(sb.shots[int(match.group(1))].id, problem.message)
    kept = tuple(shot for shot in moved if shot.id not in unavailable)
    if not kept:
        return None, unavailable
    return dataclasses.replace(sb, shots=kept), unavailable


def compare_hosts(campaign: Campaign, current: Plan, digests: Callable[[str], Any],
                  lock: LockSections, cached: Callable[[str], bool],
                  in_flight: Mapping[str, str | None], **graph: Any) -> HostComparison:
    """The plan of ``campaign`` on each host of :func:`hosts_of`, beside the ``current`` plan. ``graph``:
    how upstream outputs are found (see :func:`reelmake.core.graph.compile_graph`)."""
    columns = []
    for host in hosts_of(campaign):
        variants, jobs, unavailable = [], {}, {}
        for variant in campaign.variants:
            sb, missing = rehost(variant.storyboard, host)
            prefix = f"{variant.id}/" if variant.id else ""
            unavailable.update({prefix + shot_id: why for shot_id, why in missing.items()})
            if sb is not None:
                moved = Variant(variant.id, sb, variant.vars, variant.text)
                variants.append(moved)
                jobs[variant.id] = compile_storyboard(sb, digests, variant=variant.id, **graph)
        subset = dataclasses.replace(campaign, variants=tuple(variants))
        plan = make_plan(subset, jobs, lock, cached, in_flight)
        columns.append(HostPlan(host, plan, tuple(unavailable), unavailable))
    ids = tuple(dict.fromkeys(str(row.id) for row in current.rows))
    return HostComparison(tuple(columns), current, ids)
