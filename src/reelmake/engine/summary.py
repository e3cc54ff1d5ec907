"""What the library's render, cut and status return: a :class:`RenderSummary` (the plan followed, how
each render ended, what was cut) with its SPEC §5 JSON, and a :class:`ShotStatus` per render."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..catalog import money_json
from ..core.plan import Plan
from ..jobs import JobId
from .outcomes import RunResult


@dataclass
class Cuts:
    """What cutting produced, per variant ("" for a storyboard) and deliverable."""

    outputs: dict[str, dict[str, Path]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    loudness: dict[str, dict[str, float | None]] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # the editor's CutReport of each one cut

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
        images = {str(r.id) for r in self.plan.rows if r.kind == "image"}
        takes: dict[str, list[int]] = {}
        for job_id in map(JobId.parse, self.result.ids("rendered")):
            takes.setdefault(str(replace(job_id, take=1)), []).append(job_id.take)
        data: dict[str, Any] = {
            "rendered": [i for i in takes if i not in images],  # each shot (at each ratio) once, however many takes
            "images": [i for i in takes if i in images],  # generated images rendered (character:maya, …)
            "takes": {shot: sorted(set(numbers)) for shot, numbers in takes.items()},
            "cached": list(dict.fromkeys(str(replace(JobId.parse(i), take=1)) for i in cached)),
            "failed": self.result.failures(),
            "held": [{"id": str(r.id), "held_by": list(r.held_by)} for r in self.plan.held],
            "needed": self.result.needed,  # --only: what the chosen shots needed rendered first, and by whom
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
