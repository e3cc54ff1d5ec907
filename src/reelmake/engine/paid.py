"""A paid render's life, the part of the orchestrator that spends money (SPEC §7): resume a task the
journal knows, adopt one a person named, reconcile an ambiguous submit with the provider's history,
reserve the price, journal the intent, submit exactly once, wait, and fetch the verified output.

A mixin of :class:`~reelmake.engine.orchestrator.Orchestrator`: it uses the orchestrator's journal,
budget, options, team claims, events and clip store, and adds nothing else.
"""

from __future__ import annotations

import asyncio
import math
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..catalog import money
from ..errors import (
    TASK_OVER,
    BackendError,
    NotSent,
    RateLimited,
    SubmitAmbiguous,
    SubmitRejected,
    TaskFailed,
    Transient,
)
from ..jobs import Reconciliation, RenderJob
from . import recovery
from .journal import TaskState
from .outcomes import JobFinished, Outcome, retry_delay

if TYPE_CHECKING:
    from .budget import Budget
    from .claiming import TeamClaims
    from .journal import Journal
    from .outcomes import EventCallback, RenderOptions
    from .workspace import Workspace


class PaidRenders:
    """The paid-render steps of the orchestrator (see the module docstring)."""

    # What the orchestrator provides (with _status, _timeout, _tmp, _store and _in_store_pool).
    workspace: Workspace
    journal: Journal
    options: RenderOptions
    budget: Budget
    team: TeamClaims | None
    on_event: EventCallback

    async def _render_remote(self, job: RenderJob, ids: list[str], backend: Any,
                             limit: asyncio.Semaphore) -> Outcome:
        # The slot counts tasks running at the provider (its concurrency limit), so it is held from
        # submit (or resume) until the task finishes; downloading happens outside it. Waiting for another
        # machine's claim takes no slot.
        if self.team is not None:
            await self.team.claim(job, ids)
        async with limit:
            task_id, output, spent = await self._run_task(job, ids, backend)
        sha = await self._fetch(job, ids, backend, output, spent)
        await self.journal.arecord("done", job.key, task_id=task_id, durable=False)
        return Outcome(job.key, ids, "rendered", spent=spent, task_id=task_id, sha256=sha)

    async def _resume_point(self, job: RenderJob, ids: list[str], backend: Any) -> str | None:
        """The task to resume for ``job``, from the journal as it is now (read under the key's lock, so
        what another process submitted counts): its id, or None when a new task is to be submitted."""
        state: TaskState | None = await asyncio.to_thread(self.journal.state, job.key)
        adopted = recovery.adoption(job, ids, self.options.adopt)
        if adopted is not None and not (state is not None and state.in_flight and state.task_id):
            return await self._adopt(job, ids, adopted)
        if state is None or not state.in_flight:
            return await self._recover_damaged(job)
        if state.task_id and state.status == "submitted":
            return state.task_id
        found = await self._reconcile(job, backend, state.since, state.ended)
        if found.task_id is not None:
            return found.task_id
        if not ({job.key, *ids} & self.options.resubmit or any(job.id.matches(s) for s in self.options.resubmit)):
            detail = f"an earlier submit of {job.shot_id} may have created a paid task"
            message = recovery.held_message(job, detail, found.candidates)
            await self.journal.arecord("ambiguous", job.key, error=message, candidates=list(found.candidates))
            raise JobFinished(Outcome(job.key, ids, "ambiguous", message))
        await self.journal.arecord("abandoned", job.key, job=job.shot_id)
        return None

    async def _recover_damaged(self, job: RenderJob) -> str | None:
        """A clip that was paid for and later found damaged in the store is downloaded again from its
        task while the provider still keeps it, instead of paying for a new one."""
        damaged = await asyncio.to_thread(self.workspace.clips.damaged, job.key)
        task_id = damaged.get("task_id") if damaged else None
        if not isinstance(task_id, str) or not task_id:
            return None
        self.on_event(job.shot_id, "running", f"the stored clip is damaged; fetching task {task_id} again")
        await self.journal.arecord("submitted", job.key, task_id=task_id, job=job.shot_id, recovered=True)
        return task_id

    async def _adopt(self, job: RenderJob, ids: list[str], task_id: str) -> str:
        """``--adopt``: take ``task_id`` as this job's task, unless another render already owns it."""
        states, _ = await asyncio.to_thread(self.journal.snapshot)
        holder = recovery.owner(task_id, states)
        if holder is not None and holder.key != job.key:
            raise JobFinished(Outcome(job.key, ids, "failed", f"--adopt: task {task_id} already belongs to "
                                                            f"{holder.job_id}; nothing was adopted"))
        await self.journal.arecord("submitted", job.key, task_id=task_id, job=job.shot_id, adopted=True)
        self.on_event(job.shot_id, "submitted", f"{task_id} (adopted)")
        return task_id

    async def _run_task(self, job: RenderJob, ids: list[str], backend: Any) -> tuple[str, Any, Decimal]:
        """Submit (or resume, or reconcile) and wait: the finished task's id, output and what it cost."""
        task_id = await self._resume_point(job, ids, backend)
        damaged = await asyncio.to_thread(self.workspace.clips.damaged, job.key)
        recovering = task_id if damaged and damaged.get("task_id") == task_id else None
        spent = Decimal(0)
        for attempt in range(self.options.attempts):
            if task_id is None and self.team is not None and not self.team.owns(job.key):
                task_id = await self.team.claim(job, ids)  # a retry after following another machine's task
            if task_id is None:
                if not await asyncio.to_thread(self.budget.reserve, job.cost):
                    raise JobFinished(Outcome(job.key, ids, "skipped", f"{money(job.cost)} would exceed the cap of "
                                                                     f"{money(self.budget.cap)}"))
                task_id = await self._submit(job, backend, ids)
                spent += job.cost
            if self.team is not None:
                await self.team.note(job.key, task_id=task_id)
            try:
                output = await asyncio.wait_for(backend.wait(job, task_id, self._status(job)),
                                                self._timeout(job, remote=True))
            except TimeoutError:
                raise JobFinished(Outcome(job.key, ids, "failed", f"task {task_id} is still running at the provider "
                                        f"after {self._timeout(job, remote=True):g} s; rerun to resume it",
                                        spent=spent, task_id=task_id)) from None
            except TASK_OVER as exc:
                await self.journal.arecord("failed", job.key, task_id=task_id, error=str(exc))
                if task_id == recovering:  # the damaged clip's task is gone: a new one it is (the plan priced it)
                    await asyncio.to_thread(self.workspace.clips.forget_damaged, job.key)
                    task_id = recovering = None
                    continue
                if spent:  # failed tasks are refunded
                    await asyncio.to_thread(self.budget.release, job.cost, committed=True)
                    spent -= job.cost
                retryable = isinstance(exc, TaskFailed) and exc.retryable
                if not retryable or attempt + 1 == self.options.attempts:
                    raise JobFinished(Outcome(job.key, ids, "failed", str(exc), task_id=task_id)) from None
                task_id = None
                await asyncio.sleep(retry_delay(self.options, attempt))
                continue
            except BackendError as exc:
                # The task may still run and bill: keep it journaled as submitted so the next run
                # resumes it rather than paying for a new one.
                raise JobFinished(Outcome(job.key, ids, "failed", f"{exc}; task {task_id} is kept and will be "
                                        "resumed by the next run", spent=spent, task_id=task_id)) from None
            return task_id, output, spent
        raise AssertionError("unreachable")

    async def _reconcile(self, job: RenderJob, backend: Any, since: float, until: float | None) -> Reconciliation:
        """Ask the backend for the task of an ambiguous submit (sent at ``since``, ended at ``until``)."""
        states, known = await asyncio.to_thread(self.journal.snapshot)
        self.on_event(job.shot_id, "queued", "looking for an ambiguous submit's task in the provider's history")
        try:
            found = await asyncio.wait_for(backend.reconcile(job, recovery.ambiguity(job, since, until, states, known)),
                                           self._timeout(job, remote=True))
        except (TimeoutError, BackendError) as exc:
            found = Reconciliation(None, ())
            self.on_event(job.shot_id, "queued", f"history lookup failed: {exc or 'timed out'}")
        if found.task_id:
            await self.journal.arecord("submitted", job.key, task_id=found.task_id, reconciled=True)
            self.on_event(job.shot_id, "submitted", f"{found.task_id} (found in the provider's history)")
        return found

    async def _submit(self, job: RenderJob, backend: Any, ids: list[str]) -> str:
        """Submit with the journal around it; send again only when the task provably does not exist.

        The intent is journaled by ``on_send``, which the backend awaits right before each request it
        sends: a shot still uploading or waiting for the rate limit has nothing in flight."""
        sent_at: float | None = None

        async def on_send() -> None:
            nonlocal sent_at
            sent_at = time.time()
            await self.journal.arecord("intent", job.key, job=job.shot_id, backend=job.backend, model=job.model,
                                       duration=job.duration, aspect=job.aspect_ratio)
            if self.team is not None:  # others must know a task may exist even if its id never arrives
                await self.team.note(job.key, sent_at=sent_at)

        not_sent = 0
        while True:
            try:
                task_id = await backend.submit(job, on_status=self._status(job), on_send=on_send)
            except asyncio.CancelledError:
                if sent_at is not None:
                    await self.journal.arecord("ambiguous", job.key, error="interrupted while submitting")
                raise
            except RateLimited as exc:  # no task exists; the window is full: wait for it, never give up
                if sent_at is not None:
                    await self.journal.arecord("failed", job.key, error=str(exc), stage="submit")
                    sent_at = None
                pause = exc.retry_after if exc.retry_after is not None else retry_delay(self.options, 3)
                self.on_event(job.shot_id, "queued", f"waiting for rate limit, next slot in {math.ceil(pause)} s")
                await asyncio.sleep(pause)
                continue
            except NotSent as exc:  # no task exists: sending again is free
                if sent_at is not None:
                    await self.journal.arecord("failed", job.key, error=str(exc), stage="submit")
                    sent_at = None
                not_sent += 1
                if not_sent == self.options.attempts:
                    await asyncio.to_thread(self.budget.release, job.cost, committed=False)
                    raise JobFinished(Outcome(job.key, ids, "failed", str(exc))) from None
                await asyncio.sleep(retry_delay(self.options, not_sent - 1))
                continue
            except SubmitRejected as exc:  # refused with a reason: no task, and it would be refused again
                if sent_at is not None:
                    await self.journal.arecord("failed", job.key, error=str(exc), stage="submit")
                await asyncio.to_thread(self.budget.release, job.cost, committed=False)
                raise JobFinished(Outcome(job.key, ids, "failed", str(exc))) from None
            except BackendError as exc:
                # SubmitAmbiguous, or anything a backend did not classify: the task may exist.
                detail = str(exc) if isinstance(exc, SubmitAmbiguous) else f"{exc} (after the request was sent)"
                ended = time.time()
                await self.journal.arecord("ambiguous", job.key, error=detail)
                await asyncio.to_thread(self.budget.commit, job.cost)  # charged until proven otherwise
                found = await self._reconcile(job, backend, sent_at if sent_at is not None else ended, ended)
                if found.task_id:
                    return found.task_id
                message = recovery.held_message(job, detail, found.candidates)
                await self.journal.arecord("ambiguous", job.key, error=message, candidates=list(found.candidates))
                raise JobFinished(Outcome(job.key, ids, "ambiguous", message, spent=job.cost)) from None
            if sent_at is None:  # a backend that did not call on_send: keep the journal's order anyway
                await on_send()
            await self.journal.arecord("submitted", job.key, task_id=task_id, job=job.shot_id)
            await asyncio.to_thread(self.budget.commit, job.cost)
            self.on_event(job.shot_id, "submitted", task_id)
            return task_id

    async def _fetch(self, job: RenderJob, ids: list[str], backend: Any, output: Any, spent: Decimal) -> str:
        for attempt in range(self.options.attempts):
            tmp = self._tmp(job)
            try:
                self.on_event(job.shot_id, "downloading", "")
                await backend.fetch(job, output, tmp)
                return await self._in_store_pool(self._store, job, tmp, output.task_id)
            except Transient as exc:
                if attempt + 1 < self.options.attempts:
                    await asyncio.sleep(retry_delay(self.options, attempt))
                    continue
                error = exc
            except TASK_OVER as exc:  # the output is gone: the task is over, nothing to resume
                await self.journal.arecord("failed", job.key, task_id=output.task_id, error=str(exc))
                raise JobFinished(Outcome(job.key, ids, "failed", str(exc), spent=spent,
                                        task_id=output.task_id)) from None
            except BackendError as exc:
                error = exc
            finally:
                tmp.unlink(missing_ok=True)
            raise JobFinished(Outcome(job.key, ids, "failed", f"{error} (task {output.task_id} completed; rerun to "
                                    "download it again)", spent=spent, task_id=output.task_id))
        raise AssertionError("unreachable")
