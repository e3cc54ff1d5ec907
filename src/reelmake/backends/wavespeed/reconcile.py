"""The task of an ambiguous submit, found in WaveSpeed's history from documented data only.

A history item (``POST /api/v3/predictions``, https://wavespeed.ai/docs/docs-common-api/predictions)
has id, model, outputs, urls, has_nsfw_contents, status, created_at, error, executionTime and timings:
never the inputs. So a task is ours only by elimination. The candidates are the tasks of the job's
model created in the submit's time window (widened by ``clock_skew``) that no journal of the workspace
knows. One is adopted only when that is unambiguous:

- it is the only candidate and no other submit of the model in that window is missing its id (a
  finished candidate's clip is downloaded and checked first: a clip of another length or shape is
  somebody else's);
- or the candidates' clips, downloaded and verified, leave exactly one of this job's duration and
  aspect ratio, and no other id-less submit in the window has that same duration and aspect ratio.
  Candidates still running are waited for (the engine bounds the wait with the shot's timeout).

Otherwise nothing is adopted and the candidates go back to the engine, which holds the shot and shows
them (``render --adopt SHOT=TASK_ID`` adopts one by hand). Nothing here submits or uploads anything.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import BackendError, OutputRejected
from ...jobs import Ambiguity, Reconciliation, RenderJob, TaskOutput

if TYPE_CHECKING:
    from .backend import WaveSpeedBackend

log = logging.getLogger("reelmake.backends.wavespeed")

PAGE_SIZE = 100  # the documented maximum
MAX_PAGES = 10
DURATION_TOLERANCE = 0.5  # as the download check (remote.download)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _epoch(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def candidates(backend: WaveSpeedBackend, job: RenderJob, ambiguity: Ambiguity) -> list[dict[str, Any]]:
    """History items of ``job``'s model created in the submit's window that no journal knows."""
    until = ambiguity.until if ambiguity.until is not None else ambiguity.since + backend.submit_timeout
    after = ambiguity.since - backend.clock_skew
    before = min(until, time.time()) + backend.clock_skew
    query = {"page_size": PAGE_SIZE, "model": job.endpoint, "created_after": _iso(after),
             "created_before": _iso(before)}
    found: dict[str, dict[str, Any]] = {}
    for page in range(1, MAX_PAGES + 1):
        data = await backend.api.call("POST", "/api/v3/predictions", what=f"shot {job.shot_id}: history lookup",
                                      json={**query, "page": page})
        items = (data or {}).get("items") or []
        for item in items:
            if not isinstance(item, dict) or not item.get("id") or item.get("model") not in (None, job.endpoint):
                continue
            created = _epoch(item.get("created_at"))
            if created is not None and not after <= created <= before:
                continue  # the filter is the server's; the window is ours to be sure of
            if str(item["id"]) not in ambiguity.known:
                found.setdefault(str(item["id"]), item)
        if len(items) < PAGE_SIZE:
            break
    return list(found.values())


def _looks_alike(job: RenderJob, rival: tuple[float | None, str | None]) -> bool:
    duration, aspect = rival
    if duration is None or aspect is None:
        return True  # not recorded: it could be anything
    return abs(duration - job.duration) <= DURATION_TOLERANCE and aspect == job.aspect_ratio


async def _clip_matches(backend: WaveSpeedBackend, job: RenderJob, item: dict[str, Any], *, wait: bool) -> bool | None:
    """Whether the candidate's clip has ``job``'s duration and aspect ratio (downloaded and verified);
    None when that cannot be known (still running and not to be waited for, failed, unreachable)."""
    task_id = str(item["id"])
    status = str(item.get("status", ""))
    outputs = tuple(u for u in item.get("outputs") or () if isinstance(u, str))
    if status != "completed" or not outputs:
        if not wait or status in ("failed", "cancelled", "timeout", "deleted"):
            return None
        try:
            output = await backend.wait(job, task_id, lambda state, detail: None)
        except BackendError:
            return None
    else:
        output = TaskOutput(task_id, outputs)
    scratch = backend.folder if backend.folder and backend.folder.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="reconcile-", dir=scratch) as tmp:
        try:
            await backend.fetch(job, output, Path(tmp) / f"{task_id}.mp4")
        except OutputRejected:
            return False
        except BackendError:
            return None
    return True


async def reconcile(backend: WaveSpeedBackend, job: RenderJob, ambiguity: Ambiguity) -> Reconciliation:
    """See the module docstring."""
    found = await candidates(backend, job, ambiguity)
    ids = tuple(str(item["id"]) for item in found)
    if not found:
        log.info("shot %s: no unknown %s task in WaveSpeed's history around the ambiguous submit",
                 job.shot_id, job.endpoint)
        return Reconciliation(None, ())
    if len(found) == 1 and not ambiguity.rivals:
        if await _clip_matches(backend, job, found[0], wait=False) is not False:
            log.info("shot %s: adopting task %s, the only unknown one around the ambiguous submit", job.shot_id, ids[0])
            return Reconciliation(ids[0], ids)
        return Reconciliation(None, ids)
    if any(_looks_alike(job, rival) for rival in ambiguity.rivals):
        log.warning("shot %s: %d candidate task(s) and another id-less submit of the same length and shape; "
                    "not adopting any", job.shot_id, len(found))
        return Reconciliation(None, ids)
    matching = []
    for item in found:
        verdict = await _clip_matches(backend, job, item, wait=True)
        if verdict is None:
            return Reconciliation(None, ids)
        if verdict:
            matching.append(str(item["id"]))
    if len(matching) == 1:
        log.info("shot %s: adopting task %s, the only candidate whose clip has its length and shape",
                 job.shot_id, matching[0])
        return Reconciliation(matching[0], ids)
    return Reconciliation(None, ids)
