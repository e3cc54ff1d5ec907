"""The plan: for each render, whether it is cached, new, changed (and which fields), in flight or
removed; what this run will cost and what the whole storyboard costs from scratch. Pure data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .backends.base import FILE_REF_PREFIX, RenderJob
from .catalog import get_model, money_json
from .journal import TaskState
from .model import Storyboard

REFERENCE_FIELDS = ("images", "video", "reference_images")
TO_RENDER = ("new", "changed")


@dataclass(frozen=True)
class PlanRow:
    id: str
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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "backend": self.backend, "model": self.model, "duration": self.duration,
            "aspect_ratio": self.aspect_ratio, "mode": self.mode, "cost": money_json(self.cost),
            "status": self.status, "changed": list(self.changed), "key": self.key, "task_id": self.task_id,
            "gpu_seconds": self.gpu_seconds,
        }


@dataclass(frozen=True)
class Plan:
    storyboard: Storyboard
    rows: tuple[PlanRow, ...]
    removed: tuple[PlanRow, ...] = ()

    @property
    def to_render(self) -> list[PlanRow]:
        return [r for r in self.rows if r.status in TO_RENDER]

    @property
    def in_flight(self) -> list[PlanRow]:
        return [r for r in self.rows if r.status == "in_flight"]

    @property
    def render_cost(self) -> Decimal:
        """What this run will submit (tasks already in flight were paid for when submitted)."""
        return sum((r.cost for r in self.to_render), Decimal(0))

    @property
    def total_cost(self) -> Decimal:
        """What the whole storyboard costs from scratch."""
        return sum((r.cost for r in self.rows), Decimal(0))

    @property
    def gpu_seconds(self) -> float:
        """Estimated GPU time of this run's local renders (0 when no figure is known)."""
        return sum(r.gpu_seconds or 0.0 for r in self.to_render)

    @property
    def budget(self) -> Decimal | None:
        return self.storyboard.budget

    @property
    def within_budget(self) -> bool:
        return self.budget is None or self.render_cost <= self.budget

    @property
    def pending(self) -> bool:
        return bool(self.to_render or self.in_flight)

    def to_json(self) -> dict[str, Any]:
        return {
            "storyboard": str(self.storyboard.path),
            "shots": [r.to_json() for r in (*self.rows, *self.removed)],
            "render_cost": money_json(self.render_cost),
            "total_cost": money_json(self.total_cost),
            "budget": money_json(self.budget) if self.budget is not None else None,
            "within_budget": self.within_budget,
        }


def _refs_by_name(request: Mapping[str, Any], inputs: Mapping[str, str]) -> dict[str, set[str]]:
    """name → content hashes (or URLs) of the references a request uses."""
    out: dict[str, set[str]] = {}
    for name in REFERENCE_FIELDS:
        values = request.get(name)
        for value in values if isinstance(values, list) else [values] if values else []:
            digest = value.removeprefix(FILE_REF_PREFIX)
            out.setdefault(inputs.get(digest, value), set()).add(digest)
    return out


def changed_fields(old: Mapping[str, Any], job: RenderJob) -> tuple[str, ...]:
    """Why a render is stale, in the storyboard's words: fields that changed, references by name."""
    changes = [name for name in ("backend", "model") if old.get(name) != getattr(job, name)]
    old_request, new_request = old.get("request") or {}, dict(job.request)
    for name in sorted(set(old_request) | set(new_request)):
        if name not in REFERENCE_FIELDS and old_request.get(name) != new_request.get(name):
            changes.append(name)
    new_inputs = {sha: f.name for sha, f in job.files.items()}
    before = _refs_by_name(old_request, old.get("inputs") or {})
    after = _refs_by_name(new_request, new_inputs)
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            verb = "added" if name not in before else "removed" if name not in after else "changed"
            changes.append(f"reference {name} {verb}")
    return tuple(changes) or ("render key",)


def make_plan(
    sb: Storyboard,
    jobs: list[RenderJob],
    lock: Mapping[str, Mapping[str, Any]],
    cached: Callable[[str], bool],
    in_flight: Mapping[str, TaskState] | None = None,
    force: set[str] | frozenset[str] = frozenset(),
) -> Plan:
    """Compare compiled jobs with the lock, the cache and the journal."""
    in_flight = in_flight or {}
    rows = []
    for job in jobs:
        old = lock.get(job.shot_id)
        forced = job.shot_id in force or job.shot_id.split("@")[0] in force
        changes: tuple[str, ...] = ()
        task_id = None
        if forced:
            status, changes = "changed", ("forced",)
        elif cached(job.key):
            status = "cached"
        elif job.key in in_flight:
            status, task_id = "in_flight", in_flight[job.key].task_id
        elif old is None or old.get("key") == job.key:
            status = "new"  # never rendered, or rendered elsewhere and not in this cache (a fresh clone)
        else:
            status, changes = "changed", changed_fields(old, job)
        model = get_model(job.model)
        rate = model.limit("gpu_seconds_per_second") if model else None
        rows.append(PlanRow(job.shot_id, job.backend, job.model, job.duration, job.aspect_ratio, job.mode,
                            job.cost, status, job.key, changes, task_id, rate * job.duration if rate else None, job))
    current = {job.shot_id for job in jobs}
    removed = tuple(
        PlanRow(job_id, entry.get("backend", "?"), entry.get("model", "?"), 0.0, "", "", Decimal(0), "removed",
                entry.get("key", ""))
        for job_id, entry in sorted(lock.items()) if job_id not in current
    )
    return Plan(sb, tuple(rows), removed)
