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
:class:`~reelmake.engine.outcomes.Outcome`. The paid steps (resume, reconcile, submit
once, wait, fetch) are :mod:`reelmake.engine.paid`; the team store's part (pull, claim, publish) is
:mod:`reelmake.engine.claiming`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from filelock import Timeout

from ..catalog import get_model
from ..errors import BackendError, BackendUnavailable, OutputRejected, ReelmakeError
from ..jobs import RenderJob
from ..media import image_suffix
from ..plugins import create_backend, get_plugin
from .budget import Budget
from .claiming import TeamClaims
from .claims import ClaimBook
from .graph import Gate
from .lock import now_iso
from .outcomes import EventCallback, JobFinished, Outcome, RenderOptions, RunResult
from .paid import PaidRenders
from .workspace import Workspace


class Orchestrator(PaidRenders):
    """Runs jobs through their backends (see the module docstring); paid steps come from PaidRenders."""

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
