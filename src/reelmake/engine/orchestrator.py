"""The orchestrator: runs jobs through backends with asyncio, safely with money.

Rules it enforces (SPEC §7):
- a render key is rendered once, even when several shots, variants, storyboards or processes share
  it: the key's file lock is held from the first look until the clip is stored;
- a paid submit is journaled *before* it is sent and its task id right after, so a crash, Ctrl-C or
  timeout resumes the task instead of paying again; the journal is read again under the key's lock,
  so a task another process submitted is resumed, never submitted twice;
- an ambiguous submit is reconciled with the provider's history, never blindly resubmitted; a shot the
  history cannot settle is held (with the candidate task ids) until ``--adopt`` or ``--resubmit``;
- a rate-limit refusal (RateLimited) never fails a shot: it waits for the window, however long;
- committed + reserved cost never exceeds this run's cap or the storyboard's shared budget;
- one failing shot does not stop the others;
- a job made from another job's output starts once that output exists, compiled again from it, and is
  blocked (never submitted) when it does not (``recompile`` given: see :mod:`reelmake.engine.graph`).
- with a shared remote store (engine.claims), a key is looked up there before rendering, a paid
  submit is claimed there first (the cross-machine key lock), and every new clip is published.

What a backend raised decides what happens (see ``reelmake.errors``); every job ends as one
:class:`~reelmake.engine.outcomes.Outcome`. The team store's part (pull, claim, publish) is
:mod:`reelmake.engine.claiming`.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

from filelock import Timeout

from ..catalog import get_model, money
from ..errors import (
    TASK_OVER,
    BackendError,
    BackendUnavailable,
    NotSent,
    OutputRejected,
    RateLimited,
    ReelmakeError,
    SubmitAmbiguous,
    SubmitRejected,
    TaskFailed,
    Transient,
)
from ..jobs import Reconciliation, RenderJob
from ..media import image_suffix
from ..plugins import create_backend, get_plugin
from . import recovery
from .budget import Budget
from .claiming import TeamClaims
from .claims import ClaimBook
from .graph import Gate
from .journal import TaskState
from .lock import now_iso
from .outcomes import EventCallback, JobFinished, Outcome, RenderOptions, RunResult, retry_delay
from .workspace import Workspace

class Orchestrator:
    def __init__(self, workspace: Workspace, options: RenderOptions, on_event: EventCallback,
                 backend_settings: Mapping[str, Mapping[str, Any]], on_rendered: Callable[[RenderJob, Outcome], None],
                 budget: Budget | None = None, recompile: Callable[[RenderJob], RenderJob] | None = None,
                 claims: ClaimBook | None = None, executor: Any = None):
        self.workspace, self.journal, self.options = workspace, workspace.journal, options
        self.recompile = recompile
        # The team's remote store, when the project has one: pulls, claims before paying, publishing.
        self.team = TeamClaims(claims, workspace, options, on_event, self._backend) if claims is not None else None
        # Where local backends' shots run (engine.executors; None: here). Paid backends always run here,
        # in this event loop, so the journal, the budget and every submit stay with this process.
        self.executor = executor
        self.on_event, self.on_rendered = on_event, on_rendered
        self.backend_settings = backend_settings
        self.budget = budget or Budget(options.max_cost)
        self.backends: dict[str, Any] = {}
        self._store_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reelmake-store")

    # -- setup
    def _backend(self, name: str) -> Any:
        if name not in self.backends:
            settings = self.backend_settings.get(name, {})
            if self.executor is not None and not get_plugin(name).remote:
                self.backends[name] = self.executor.local_backend(name, settings)
            else:
                self.backends[name] = create_backend(name, settings, self.workspace.backend_dir(name))
        return self.backends[name]

    def _concurrency(self, backend: str, jobs: list[RenderJob]) -> int:
        if self.options.jobs:
            return self.options.jobs
        slots = getattr(self._backend(backend), "slots", None)  # an executor's workers for this backend
        if slots:
            return int(slots)
        configured = self.backend_settings.get(backend, {}).get("max_concurrency")
        if configured:
            return int(configured)
        models = [get_model(j.model, j.backend) for j in jobs if j.backend == backend]
        return min((int(m.limit("max_concurrency", default=4)) for m in models if m), default=4)

    async def run(self, jobs: list[RenderJob]) -> RunResult:
        """Render every distinct key among ``jobs``; jobs sharing a key share its one render."""
        by_key: dict[str, list[RenderJob]] = {}
        for job in jobs:
            by_key.setdefault(job.key, []).append(job)
        for backend in sorted({j.backend for j in jobs}):
            # A provisional job's request holds placeholders; it is checked once compiled from its inputs.
            self._backend(backend).preflight([j for j in jobs if j.backend == backend and not j.provisional])
        concurrency = {b: self._concurrency(b, jobs) for b in {j.backend for j in jobs}}
        limits = {b: asyncio.Semaphore(n) for b, n in concurrency.items()}
        # Blocking steps (file locks, fsyncs, hashing, ffmpeg) run in threads; the default pool
        # (cores + 4) would serialize them behind a few slow ones at high concurrency.
        pool = ThreadPoolExecutor(max_workers=max(8, 2 * sum(concurrency.values())), thread_name_prefix="reelmake")
        asyncio.get_running_loop().set_default_executor(pool)
        result = RunResult()
        for group in by_key.values():
            for job in group:
                self.on_event(job.shot_id, "queued", "")
        gate = Gate(jobs, self.recompile, self.on_event, self.budget) if self.recompile else None
        tasks = [asyncio.create_task(self._gated(group, limits[group[0].backend], gate)) for group in by_key.values()]
        try:
            result.outcomes = list(await asyncio.gather(*tasks))
        except asyncio.CancelledError:
            result.interrupted = True
            for task in tasks:
                task.cancel()
            finished = await asyncio.gather(*tasks, return_exceptions=True)
            result.outcomes = [o for o in finished if isinstance(o, Outcome)]
            raise
        finally:
            if gate is not None:
                await gate.close()
            if self.team is not None:
                await self.team.close()
            for backend in self.backends.values():
                await backend.aclose()
            self._store_pool.shutdown(wait=False)
            await asyncio.to_thread(self.budget.close)
        return result

    async def _gated(self, group: list[RenderJob], limit: asyncio.Semaphore, gate: Gate | None) -> Outcome:
        """``group`` once the gate lets it start (compiled again from its upstream outputs), else blocked."""
        if gate is None:
            return await self._guarded(group, limit)
        ids = [j.shot_id for j in group]
        outcome: Outcome | None = None
        try:
            try:
                ready = await gate.ready(group)
            except ReelmakeError as exc:  # an upstream output that cannot be used (a frame past the clip's end)
                ready = ("blocked", f"{exc}; nothing was submitted")
            if isinstance(ready, tuple):
                outcome = Outcome(group[0].key, ids, *ready)
                for job_id in ids:
                    self.on_event(job_id, outcome.status, outcome.error or "")
            else:
                outcome = await self._guarded(ready, limit)
            return outcome
        finally:
            gate.finish(group[0].key, outcome.status if outcome else "failed", outcome.error if outcome else
                        "interrupted")

    async def _guarded(self, group: list[RenderJob], limit: asyncio.Semaphore) -> Outcome:
        job = group[0]
        ids = [j.shot_id for j in group]
        lock = self.workspace.key_lock(job.key)
        try:  # uncontended, the common case: take the lock without a thread hop
            lock.acquire(blocking=False)
        except Timeout:  # another process renders this key: wait for it off the event loop
            self.on_event(job.shot_id, "queued", "rendering in another process; waiting for it")
            await asyncio.to_thread(lock.acquire)
        try:
            outcome = await self._look_then_render(job, ids, limit)
            if self.team is not None:  # under the key's lock: no process of ours claims it meanwhile
                await self.team.share(job, outcome)
        finally:
            lock.release()  # unlocking never blocks
        state = {"rendered": "done"}.get(outcome.status, outcome.status)
        for job_id in ids:
            self.on_event(job_id, state, outcome.error or "")
        if outcome.status in ("rendered", "cached"):
            for member in group:
                self.on_rendered(member, outcome)
        return outcome

    async def _look_then_render(self, job: RenderJob, ids: list[str], limit: asyncio.Semaphore) -> Outcome:
        """Under the key's lock: the clip if it exists by now (here, or in the team's store), else a render."""
        try:
            clips = self.workspace.clips
            entry = None
            if clips.has(job.key):  # a cheap miss check inline; hashing a hit runs in a thread
                entry = await asyncio.to_thread(clips.get, job.key, verify=True)
            if entry is None and self.team is not None:  # a teammate's clip, pulled and verified
                entry = await self.team.pull(job)
            if entry is not None:  # another process (or storyboard, or machine) rendered it meanwhile
                return Outcome(job.key, ids, "cached", sha256=entry.sha256)
            return await self._render(job, ids, limit)
        except JobFinished as stop:
            return stop.outcome
        except BackendUnavailable as exc:
            return Outcome(job.key, ids, "failed", str(exc))
        except BackendError as exc:
            return Outcome(job.key, ids, "failed", str(exc), task_id=exc.task_id)
        except OSError as exc:  # a full disk, a read-only workspace: nothing half-written stays (atomic writes)
            where = f" {exc.filename}" if exc.filename else ""
            return Outcome(job.key, ids, "failed", f"cannot write{where}: {exc.strerror or exc}; a submitted "
                           "task stays in the journal and the next run resumes it")

    async def _render(self, job: RenderJob, ids: list[str], limit: asyncio.Semaphore) -> Outcome:
        backend = self._backend(job.backend)
        if not backend.remote:
            async with limit:
                return await self._render_local(job, ids, backend)
        return await self._render_remote(job, ids, backend, limit)

    async def _in_store_pool(self, fn: Callable[..., Any], *args: Any) -> Any:
        # Storing finished clips (hashing, fsyncs) gets its own two threads: when a whole wave of tasks
        # finishes at once, that work must not queue ahead of the next wave's submissions.
        return await asyncio.get_running_loop().run_in_executor(self._store_pool, fn, *args)

    def _status(self, job: RenderJob) -> Callable[[str, str], None]:
        return lambda state, detail: self.on_event(job.shot_id, state, detail)

    def _tmp(self, job: RenderJob) -> Path:
        suffix = ".png" if job.kind == "image" else ".mp4"
        return self.workspace.tmp_dir() / f"{job.key}.{uuid.uuid4().hex[:8]}{suffix}"

    def _store(self, job: RenderJob, tmp: Path, task_id: str | None) -> str:
        meta = {"backend": job.backend, "model": job.model, "endpoint": job.endpoint, "request": dict(job.request),
                "cost": str(job.cost), "task_id": task_id, "shot": job.shot_id, "created_at": now_iso()}
        if job.kind == "image":  # stored under the type it really is: hosts deliver PNG or JPEG as they please
            suffix = image_suffix(tmp)
            if suffix is None:
                raise OutputRejected(f"{job.shot_id}: the output is not a PNG, JPEG or WebP image", task_id=task_id)
            if suffix != tmp.suffix:
                tmp = tmp.rename(tmp.with_suffix(suffix))
            meta["kind"] = "image"
        return self.workspace.clips.put(job.key, tmp, meta).sha256

    def _timeout(self, job: RenderJob, *, remote: bool) -> float | None:
        if self.options.timeout:
            return self.options.timeout
        configured = job.settings.get("timeout")
        return float(configured) if configured else (1800.0 if remote else None)

    # -- local backends: free, nothing to journal
    async def _render_local(self, job: RenderJob, ids: list[str], backend: Any) -> Outcome:
        tmp = self._tmp(job)
        try:
            self.on_event(job.shot_id, "running", "")
            await asyncio.wait_for(backend.run(job, tmp, self._status(job)), self._timeout(job, remote=False))
            sha = await self._in_store_pool(self._store, job, tmp, None)
        except TimeoutError:
            return Outcome(job.key, ids, "failed", f"timed out after {self._timeout(job, remote=False):g} s")
        finally:
            tmp.unlink(missing_ok=True)
        return Outcome(job.key, ids, "rendered", sha256=sha)

    # -- remote backends: paid, journaled
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
