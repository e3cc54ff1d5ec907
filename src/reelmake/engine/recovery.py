"""Ambiguous submits: what the journal says about one (for the backend's history lookup), adopting a task
by hand (``render --adopt SHOT=TASK_ID``), and the words for a shot that stays held.

An ambiguous submit may have created a paid task whose id never came back. The backend looks for it
in the provider's history by model and time window; to do that safely it must know every task id the
workspace already owns (never one of those) and every *other* submit of the same model around that
time whose id is also unknown (a task in the history may be one of theirs). Both come from one reading
of the journal, so a submit that another shot is sending right now counts as a rival until its id is
recorded, and its task is never mistaken for ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..jobs import Ambiguity, RenderJob
from .journal import TaskState

# Around an ambiguous submit, how far apart (seconds) another id-less submit may have been sent and still
# have produced a task in the same stretch of the history. Generous on purpose: a rival only makes
# reconciliation more careful.
RIVAL_MARGIN = 600.0
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def ambiguity(job: RenderJob, since: float, until: float | None, states: Mapping[str, TaskState],
              known: set[str]) -> Ambiguity:
    """The :class:`Ambiguity` of ``job``'s submit sent at ``since`` (ended at ``until``, None if it never
    returned), given a snapshot of the journal (``states`` and ``known`` task ids)."""
    end = until if until is not None else since
    rivals = tuple(
        (state.duration, state.aspect)
        for key, state in states.items()
        if key != job.key and state.in_flight and not state.task_id and state.backend == job.backend
        and state.model in (None, job.model)
        and since - RIVAL_MARGIN <= state.since <= end + RIVAL_MARGIN
    )
    return Ambiguity(since=since, until=until, known=frozenset(known), rivals=rivals)


def adoption(job: RenderJob, ids: list[str], adopt: Mapping[str, str]) -> str | None:
    """The task id ``--adopt`` names for this job (by job id, shot id or render key), if any."""
    for selector, task_id in adopt.items():
        if selector in (job.key, *ids) or job.id.matches(selector):
            return task_id
    return None


def owner(task_id: str, states: Mapping[str, TaskState]) -> TaskState | None:
    """The journaled render that already holds ``task_id``, if any."""
    return next((s for s in states.values() if s.task_id == task_id), None)


def held_message(job: RenderJob, detail: str, candidates: tuple[str, ...]) -> str:
    """Why an ambiguous shot is held, and the two ways out."""
    shot = job.id.in_variant
    if candidates:
        found = (f"{job.backend}'s history has {len(candidates)} task(s) it could be and reelmake cannot tell "
                 f"which: {', '.join(candidates)}; check them on the provider's dashboard and adopt the right one "
                 f"with --adopt {shot}=TASK_ID")
    else:
        found = "no task of it is in the provider's history (yet); rerun later to look again"
    return (f"{detail}; {found}, or rerun with --resubmit {shot} to submit it again (paying again if the first "
            "one did run)")


def parse_adopt(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``SHOT=TASK_ID`` pairs from the command line; ValueError with a human message otherwise."""
    pairs: dict[str, str] = {}
    for value in values:
        shot, sep, task_id = value.partition("=")
        if not sep or not shot.strip() or not TASK_ID.fullmatch(task_id.strip()):
            raise ValueError(f"--adopt {value!r}: expected SHOT=TASK_ID (a provider task id of letters, digits, "
                             "'-', '_', '.' or ':')")
        pairs[shot.strip()] = task_id.strip()
    return pairs
