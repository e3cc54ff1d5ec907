"""Approving and rejecting takes: the one code path for `reelmake approve`/`reject` and the review page.

A decision names the approved clip by its render key (see :mod:`reelmake.core.takes`) and is written
into the lock's ``decisions:`` under the lock's file lock, against the file as it is at that moment,
so a render running meanwhile keeps its entries and the decision survives the render's next write.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.takes import Approval, approval, decision_name, known_shots, take_keys
from ..errors import StoryboardError
from ..jobs import JobId, RenderJob
from .lock import now_iso


def who(directory: Path | None = None) -> str:
    """Who decides: git's ``user.name`` (as configured for the storyboard's repository), else $USER."""
    try:
        proc = subprocess.run(["git", "config", "user.name"], cwd=directory, capture_output=True, text=True,
                              timeout=5, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    for name in ("USER", "LOGNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class ShotTakes:
    """One shot of one variant as a reviewer sees it: its takes at its own ratio and the decision on it."""

    variant: str
    shot: str
    jobs: dict[int, RenderJob]  # take → job
    rendered: dict[int, bool]  # take → its clip is in the store
    approval: Approval | None

    @property
    def name(self) -> str:
        return decision_name(self.variant, self.shot)

    @property
    def keys(self) -> dict[int, str]:
        return {take: job.key for take, job in self.jobs.items()}

    @property
    def rejected(self) -> dict[int, str]:
        return self.approval.rejected_takes(self.keys) if self.approval else {}


def shot_takes(project: Any, jobs: Mapping[str, list[RenderJob]] | None = None) -> list[ShotTakes]:
    """Every shot of every variant, in cut order, with its takes and the decision that applies."""
    jobs = project.current_jobs() if jobs is None else jobs
    decisions = project.lock.decisions
    store = project.workspace.clips
    out = []
    for variant_id, variant_jobs in jobs.items():
        keys = take_keys(variant_jobs)
        by_shot: dict[str, dict[int, RenderJob]] = {}
        for job in variant_jobs:
            if job.id.aspect is None:
                by_shot.setdefault(job.id.shot, {})[job.id.take] = job
        for shot, takes in by_shot.items():
            takes = dict(sorted(takes.items()))
            out.append(ShotTakes(variant_id, shot, takes, {t: store.has(j.key) for t, j in takes.items()},
                                 approval(decisions, variant_id, shot, keys.get((variant_id, shot), {}))))
    return out


def _targets(project: Any, selector: str) -> tuple[str, list[ShotTakes]]:
    """The shots ``selector`` (``shot`` or ``variant/shot``) names, and where its decision is kept."""
    try:
        wanted = JobId.parse(selector)
    except ValueError:
        wanted = None
    every = shot_takes(project)
    if wanted is None or "@" in selector or "#" in selector:
        raise StoryboardError(f"{selector!r}: name a shot (variant/shot in a campaign) and choose the take with "
                              "--take N")
    targets = [s for s in every if s.shot == wanted.shot and (not wanted.variant or s.variant == wanted.variant)]
    if not targets:
        known = known_shots(JobId(s.shot, s.variant) for s in every)
        raise StoryboardError(f"{selector!r} names no shot of {project.campaign.path.name} (known: "
                              f"{', '.join(known)})")
    return decision_name(wanted.variant, wanted.shot), targets


def _take_key(targets: list[ShotTakes], selector: str, take: int | None) -> tuple[int, str]:
    """The take to decide on (default: the newest rendered) and its clip's render key, the same clip in
    every variant named."""
    chosen: dict[str, tuple[int, str]] = {}
    for target in targets:
        rendered = [t for t, ok in target.rendered.items() if ok]
        pick = take if take is not None else max(rendered, default=None)
        label = target.name
        if pick is None:
            raise StoryboardError(f"{label} has no rendered take yet; render it first (reelmake render)")
        if not target.rendered.get(pick):
            listed = ", ".join(str(t) for t in rendered) or "none"
            raise StoryboardError(f"{label} has no rendered take {pick} (rendered takes: {listed})")
        chosen[target.variant] = (pick, target.keys[pick])
    if len(set(chosen.values())) > 1:
        differ = ", ".join(f"{v}/{targets[0].shot}" for v in chosen)
        raise StoryboardError(f"{selector} is not the same clip in every variant ({differ}); decide on one "
                              "variant's shot, e.g. " + f"{next(iter(chosen))}/{targets[0].shot}")
    return next(iter(chosen.values()))


def approve(project: Any, selector: str, take: int | None = None, note: str | None = None,
            by: str | None = None) -> tuple[str, int]:
    """Approve ``take`` (default: the newest rendered) of a shot; in a campaign, a plain shot id approves
    it in every variant that shares that clip. Returns where the decision was kept and the take."""
    name, targets = _targets(project, selector)
    pick, key = _take_key(targets, selector, take)
    by = by or who(project.campaign.directory)
    variants = {t.variant for t in targets}

    def change(decisions: dict[str, dict[str, Any]]) -> None:
        rejected = []
        if "/" not in name:  # one decision for every variant: theirs would shadow it
            for variant in variants - {""}:
                rejected += decisions.pop(f"{variant}/{name}", {}).get("rejected") or []
        decision = decisions.get(name, {})
        rejected = [r for r in [*(decision.get("rejected") or []), *rejected] if r.get("clip") != key]
        decision = {"approved": pick, "key": key, "by": by, "at": now_iso()}
        if note:
            decision["note"] = note
        if rejected:
            decision["rejected"] = rejected
        decisions[name] = decision

    project.lock.update_decisions(change)
    return name, pick


def reject(project: Any, selector: str, take: int, note: str | None = None, by: str | None = None) -> tuple[str, int]:
    """Reject ``take`` of a shot with an optional note; rejecting the approved take withdraws the approval."""
    name, targets = _targets(project, selector)
    pick, key = _take_key(targets, selector, take)
    by = by or who(project.campaign.directory)

    def change(decisions: dict[str, dict[str, Any]]) -> None:
        decision = dict(decisions.get(name, {}))
        if decision.get("key") == key:
            for field in ("approved", "key", "by", "at", "note"):
                decision.pop(field, None)
        entry = {"take": pick, "clip": key, "by": by, "at": now_iso()}
        if note:
            entry["note"] = note
        decision["rejected"] = [*(r for r in decision.get("rejected") or [] if r.get("clip") != key), entry]
        decisions[name] = decision

    project.lock.update_decisions(change)
    return name, pick
