"""A variant's storyboard + its rendered clips → one CutSpec per deliverable, for the editor.

Each shot is cut from its approved take, else from its newest rendered take (``approved_only``: a slate
where a shot has no approval). A clip whose store entry is missing or fails its hash check becomes
``path=None`` with a status, never a corrupt input to the cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..core.model import Deliverable, Storyboard
from ..core.takes import Approval, choose_take
from ..edit.spec import BedSpec, ClipSpec, CutSpec, DeliverableSpec, MixSpec, Transition
from ..jobs import JobId, RenderJob
from .workspace import Workspace


def _deliverable_spec(d: Deliverable) -> DeliverableSpec:
    return DeliverableSpec(d.name, d.width, d.height, d.fps, d.reframe, d.captions, d.quality, d.length)


def cut_specs(sb: Storyboard, jobs: list[RenderJob], workspace: Workspace, failed: Mapping[str, str],
              only: str | None = None, approvals: Mapping[str, Approval | None] | None = None,
              approved_only: bool = False) -> Iterator[CutSpec]:
    """A CutSpec for each deliverable of ``sb`` (or just ``only``); ``failed`` maps job ids to why
    they did not render this run (shown on slates); ``approvals`` by shot id."""
    approvals = approvals or {}
    takes: dict[str, dict[int, RenderJob]] = {}  # shot[@ratio] → take → job
    for job in jobs:
        takes.setdefault(str(JobId(job.id.shot, aspect=job.id.aspect)), {})[job.id.take] = job
    bed_paths = [(sb.directory / sb.assets[item.asset].source).resolve() for item in sb.soundtrack]
    beds = tuple(
        BedSpec(
            name=item.asset, path=path, sha256=workspace.memo.sha256(path),
            start=item.start, at=item.at, offset=item.offset, volume_db=item.volume,
            fade_in=item.fade_in, fade_out=item.fade_out, duck=item.duck, loop=item.loop,
        )
        for item, path in zip(sb.soundtrack, bed_paths, strict=True)
    )
    mix = MixSpec(sb.mix.loudness, sb.mix.true_peak, sb.mix.shot_audio)
    for deliverable in sb.deliverables:
        if only and deliverable.name != only:
            continue
        clips = []
        for shot in sb.shots:
            aspect = deliverable.aspect_ratio if deliverable.reframe == "render" else shot.aspect_ratio
            name = str(JobId(shot.id, aspect=None if aspect == shot.aspect_ratio else aspect))
            found = approvals.get(shot.id)
            approved = found.approved if found else None
            options = takes.get(name, {})
            take = choose_take({t: workspace.clips.has(j.key) for t, j in options.items()}, approved)
            entry, status = None, "missing"
            if approved_only and approved is None:
                take, status = None, "unapproved"
            elif take is not None:
                entry = workspace.clips.get(options[take].key, verify=True)
                status = "rendered" if entry else failed.get(options[take].id.in_variant, "missing")
            clips.append(ClipSpec(
                shot_id=shot.id,
                path=entry.clip if entry else None,
                sha256=entry.sha256 if entry else None,
                duration=shot.duration,
                trim=shot.trim,
                transition=Transition(shot.transition.type, shot.transition.duration) if shot.transition else None,
                caption=shot.caption,
                status=status,
                take=take if entry else None,
            ))
        yield CutSpec(sb.title, tuple(clips), _deliverable_spec(deliverable), beds, mix)
