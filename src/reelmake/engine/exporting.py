"""A project's deliverables → timelines for editing software (``reelmake export``).

Gathers what :mod:`reelmake.export` needs from the pipeline: the same cut specs the editor gets
(:func:`.assemble.cut_specs`), the render job behind each clip the cut uses and the decisions the
lock records about it, and where each variant's export and cut report live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from ..catalog import money_json
from ..errors import ReelmakeError
from ..jobs import RenderJob
from .assemble import cut_specs

if TYPE_CHECKING:
    from ..export import ExportResult
    from .project import Project


@dataclass
class Exports:
    """What exporting produced, per variant ("" for a storyboard) and deliverable."""

    results: dict[str, dict[str, ExportResult]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "exports": {vid: {name: r.to_json() for name, r in res.items()} for vid, res in self.results.items()},
            "errors": {vid: errs for vid, errs in self.errors.items() if errs},
        }


def export(project: Project, fmt: str, *, deliverable: str | None = None, media: str = "link",
           out: str | Path | None = None) -> Exports:
    """Export every deliverable (or just ``deliverable``) of every variant as ``fmt``, into ``out`` (default
    ``out/<stem>/export/``; a campaign gets a folder per variant). A deliverable that cannot be exported
    (a shot not rendered) is an error of its own; the others are still exported."""
    try:
        from ..export import ClipFile, export_cut
    except ImportError as exc:  # the optional dependency, not a bug
        raise ReelmakeError(f"exporting needs OpenTimelineIO and its adapters ({exc.name} is missing): "
                            "pip install 'reelmake[export]'") from None

    decisions = project.lock.decisions  # shot id (variant/shot in a campaign) → approval
    exports = Exports()
    for variant in project.campaign.variants:
        jobs = project.jobs[variant.id]
        folder = project.out_dir(variant, out) if out else project.out_dir(variant) / "export"
        by_clip = {project.workspace.clips.clip_path(job.key): job for job in jobs}
        results = exports.results.setdefault(variant.id, {})
        errors = exports.errors.setdefault(variant.id, {})
        specs = list(cut_specs(variant.storyboard, jobs, project.workspace, {}, only=deliverable))
        if deliverable and not specs:
            names = ", ".join(d.name for d in variant.storyboard.deliverables)
            raise ReelmakeError(f"no deliverable named {deliverable!r}; this storyboard has {names}")
        for spec in specs:
            clips = {}
            for clip in spec.clips:
                job = by_clip.get(clip.path) if clip.path is not None else None
                if job is not None:
                    decision = decisions.get(f"{variant.id}/{clip.shot_id}") or decisions.get(clip.shot_id)
                    clips[clip.shot_id] = ClipFile(clip.path, _stem(job), clip.sha256, _provenance(job, decision))
            try:
                results[spec.deliverable.name] = export_cut(
                    spec, clips, fmt, folder, media_mode=media,
                    report=project.out_dir(variant) / f"{spec.deliverable.name}.json",
                )
            except ReelmakeError as exc:
                errors[spec.deliverable.name] = str(exc)
    return exports


def _stem(job: RenderJob) -> str:
    """The clip's file name beside the export: the shot id, plus the ratio of a native-ratio render
    (``lace-up_9x16``), so two deliverables' clips of one shot never share a name."""
    return job.id.shot + (f"_{job.id.aspect.replace(':', 'x')}" if job.id.aspect else "")


def _provenance(job: RenderJob, decision: Mapping[str, Any] | None):
    from ..export import Provenance

    request = job.request
    prompt = request.get("prompt")
    segments = [s.get("prompt") for s in request.get("multi_prompt") or request.get("segments") or []
                if isinstance(s, Mapping)]
    if segments and not prompt:
        prompt = " / ".join(str(s) for s in segments)
    approval = None
    if decision and "approved" in decision:
        approval = {"approved": decision.get("approved") == job.id.take}
        for key, name in (("approved", "approved_take"), ("by", "by"), ("at", "at"), ("note", "note")):
            if decision.get(key) is not None:
                approval[name] = _plain(decision[key])
    return Provenance(
        shot_id=job.id.shot, prompt=None if prompt is None else str(prompt), model=job.model, backend=job.backend,
        host=getattr(job, "host", None), render_key=job.key, cost=money_json(job.cost), take=job.id.take,
        approval=approval,
    )


def _plain(value: Any) -> str | int | float | bool:
    """A value metadata can hold: a hand-edited lock may have YAML timestamps or anything else."""
    return value if isinstance(value, (str, int, float, bool)) else str(value)
