"""Takes and the decisions people make about them. Pure.

A shot's takes are numbered from 1 in the order they were rendered; take k of a request is its own job
(``shot#k``) with its own render key, so takes of the same request never collide and a changed request
starts a new set of takes. The storyboard asks for ``takes: N``; ``reelmake take`` and ``--force``
add more, which the lock remembers: :func:`recorded_takes` finds those that still belong to the
shot as it stands.

A decision (``decisions:`` in the lock) approves one take of a shot by its render key, so an approval
follows the clip: it holds while that clip is the shot's take k, survives edit-time changes (a caption,
a trim) and is *superseded* when the request changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..jobs import JobId, RenderJob

# take k of a job's shot and aspect, compiled as the shot stands now
CompileTake = Callable[[RenderJob, int], RenderJob]


def base_id(job_id: JobId) -> JobId:
    """The id every take of a render shares (take 1's)."""
    return JobId(job_id.shot, job_id.variant, job_id.aspect, 1)


def recorded_takes(jobs: list[RenderJob], recorded: Callable[[str, JobId], Mapping[int, str]],
                   compile_take: CompileTake) -> list[RenderJob]:
    """``jobs`` plus the takes the lock records beyond them that still belong to the shot as it stands
    (their key is the key that take of today's request has), each after its own shot's takes.

    ``recorded(backend, base)`` gives the lock's takes of a render as {take: render key}."""
    out: list[RenderJob] = []
    planned = {j.id for j in jobs}
    for index, job in enumerate(jobs):
        out.append(job)
        following = jobs[index + 1] if index + 1 < len(jobs) else None
        if following is not None and base_id(following.id) == base_id(job.id):
            continue  # extras go after the last planned take of this render
        for take, key in sorted(recorded(job.backend, base_id(job.id)).items()):
            if JobId(job.id.shot, job.id.variant, job.id.aspect, take) in planned:
                continue
            extra = compile_take(job, take)
            if extra.key == key:
                out.append(extra)
    return out


def new_takes(jobs: list[RenderJob], selectors: Iterable[str], compile_take: CompileTake,
              taken: Callable[[str], bool], count: int = 1) -> list[RenderJob]:
    """``count`` new takes of every render a selector names (``--force``, ``reelmake take``): numbered
    after the highest take known, skipping any whose clip already exists (``taken(key)``), so a forced
    shot always renders something new and never replaces a take."""
    selectors = list(selectors)
    highest: dict[JobId, RenderJob] = {}
    for job in jobs:
        base = base_id(job.id)
        if base not in highest or job.id.take > highest[base].id.take:
            highest[base] = job
    out = []
    for base, job in highest.items():
        if not any(j.id.matches(s) for j in jobs if base_id(j.id) == base for s in selectors):
            continue
        take = job.id.take
        for _ in range(count):
            take += 1
            extra = compile_take(job, take)
            while taken(extra.key):
                take += 1
                extra = compile_take(job, take)
            out.append(extra)
    return out


def unknown_selectors(selectors: Iterable[str], ids: Iterable[JobId], keys: Iterable[str] = ()) -> list[str]:
    """The selectors (``--only``/``--force``/``--resubmit`` text) that name no job (nor render key)."""
    ids, keys = list(ids), set(keys)
    return [s for s in selectors if s not in keys and not any(i.matches(s) for i in ids)]


def known_shots(ids: Iterable[JobId]) -> list[str]:
    """Shot ids in order, once each: what an error lists as the known ids."""
    return list(dict.fromkeys(i.shot for i in ids))


# -- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """A shot's decision as it applies now. ``take`` is None when nothing is approved; ``superseded``
    when the approved clip is no longer that take of the shot (its request changed)."""

    name: str  # where it lives in ``decisions:`` (``shot``, or ``variant/shot`` in a campaign)
    take: int | None
    key: str | None
    by: str = ""
    at: str = ""
    note: str = ""
    superseded: bool = False
    rejected: tuple[Mapping[str, Any], ...] = ()

    @property
    def approved(self) -> int | None:
        """The take to use: the approved one while it holds."""
        return None if self.superseded else self.take

    def rejected_takes(self, keys: Mapping[int, str]) -> dict[int, str]:
        """take → note, for the rejections of clips that are still those takes."""
        return {int(r["take"]): str(r.get("note") or "") for r in self.rejected
                if isinstance(r.get("take"), int) and keys.get(r["take"]) == r.get("clip")}

    def to_json(self) -> dict[str, Any]:
        return {"approved": self.take, "by": self.by or None, "at": self.at or None, "note": self.note or None,
                "superseded": self.superseded, "key": self.key,
                "rejected": [{k: r.get(k) for k in ("take", "note", "by", "at")} for r in self.rejected]}


def decision_name(variant: str, shot: str) -> str:
    return f"{variant}/{shot}" if variant else shot


def find_decision(decisions: Mapping[str, Mapping[str, Any]], variant: str, shot: str,
                  keys: Mapping[int, str]) -> tuple[str, Mapping[str, Any]] | None:
    """The decision that applies to ``shot`` of ``variant``, whose takes have ``keys`` {take: render key}:
    the variant's own (``variant/shot``), else the campaign-wide one (``shot``), else another variant's
    approval of the very same clip (a shot shared by several variants is approved once for all)."""
    for name in dict.fromkeys((decision_name(variant, shot), shot)):
        if isinstance(decisions.get(name), Mapping):
            return name, decisions[name]
    if variant:
        current = set(keys.values())
        for name, decision in sorted(decisions.items()):
            if name.endswith(f"/{shot}") and isinstance(decision, Mapping) and decision.get("key") in current:
                return name, decision
    return None


def approval(decisions: Mapping[str, Mapping[str, Any]], variant: str, shot: str,
             keys: Mapping[int, str]) -> Approval | None:
    """The decision on ``shot`` (see :func:`find_decision`) judged against its current takes' keys."""
    found = find_decision(decisions, variant, shot, keys)
    if found is None:
        return None
    name, raw = found
    take = raw.get("approved")
    take = take if isinstance(take, int) and not isinstance(take, bool) else None
    key = raw.get("key") if isinstance(raw.get("key"), str) else None
    rejected = tuple(r for r in raw.get("rejected") or () if isinstance(r, Mapping))
    superseded = take is not None and keys.get(take) != key
    return Approval(name, take, key, str(raw.get("by") or ""), str(raw.get("at") or ""), str(raw.get("note") or ""),
                    superseded, rejected)


def take_keys(jobs: Iterable[RenderJob]) -> dict[tuple[str, str], dict[int, str]]:
    """(variant, shot) → {take: render key} of each shot's takes at its own ratio: what approvals name."""
    out: dict[tuple[str, str], dict[int, str]] = {}
    for job in jobs:
        if job.id.aspect is None:
            out.setdefault((job.id.variant, job.id.shot), {})[job.id.take] = job.key
    return out


def _recorded_keys(lock: Mapping[str, Mapping[str, Mapping[str, Any]]], backend: str,
                   variant: str) -> dict[str, dict[int, str]]:
    """shot → {take: key} that the lock (backend → job id → entry) records for ``variant`` at the shots'
    own ratio."""
    out: dict[str, dict[int, str]] = {}
    for name, entry in lock.get(backend, {}).items():
        try:
            job_id = JobId.parse(name)
        except ValueError:
            continue
        if job_id.variant == variant and job_id.aspect is None and isinstance(entry.get("key"), str):
            out.setdefault(job_id.shot, {})[job_id.take] = entry["key"]
    return out


def superseded_approvals(variant: str, jobs: list[RenderJob], lock: Mapping[str, Mapping[str, Mapping[str, Any]]],
                         decisions: Mapping[str, Mapping[str, Any]]) -> dict[JobId, int]:
    """The approvals these jobs would supersede: a shot whose approved clip is its take now (by the lock)
    and none of its jobs' any more. Maps the job that replaces it (the approved take's, else the shot's
    first) to the approved take."""
    new_keys = take_keys(jobs)
    ids = {j.id for j in jobs}
    recorded: dict[str, dict[str, dict[int, str]]] = {}
    out: dict[JobId, int] = {}
    for job in jobs:
        if job.id.aspect is not None or job.id.take != 1 or not decisions:
            continue
        if job.backend not in recorded:
            recorded[job.backend] = _recorded_keys(lock, job.backend, variant)
        found = approval(decisions, variant, job.id.shot, recorded[job.backend].get(job.id.shot, {}))
        if found is None or found.approved is None or found.key in new_keys.get((variant, job.id.shot), {}).values():
            continue
        replacing = JobId(job.id.shot, variant, None, found.approved)
        out[replacing if replacing in ids else job.id] = found.approved
    return out


def insert_takes(jobs: list[RenderJob], added: list[RenderJob]) -> list[RenderJob]:
    """``jobs`` with each new take placed after the last take of its shot and ratio."""
    out = list(jobs)
    for job in added:
        same = [i for i, j in enumerate(out) if (j.id.shot, j.id.aspect) == (job.id.shot, job.id.aspect)]
        out.insert(same[-1] + 1 if same else len(out), job)
    return out


def choose_take(takes: Mapping[int, bool], approved: int | None) -> int | None:
    """The take a cut uses from ``takes`` {take: has a clip}: the approved one, else the newest with a
    clip, else (nothing rendered) the newest."""
    if approved is not None and approved in takes:
        return approved
    rendered = [t for t, ok in takes.items() if ok]
    if rendered:
        return max(rendered)
    return max(takes, default=None)
