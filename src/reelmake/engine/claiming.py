"""The orchestrator's side of the team's remote store (engine.claims): pull a teammate's clip before
rendering, claim a paid render before paying for it, publish the clip after, then let go of the claim.

Every remote failure here is decided in the direction that cannot pay twice: an unreachable store means
a paid shot waits (skipped), never that it is submitted unclaimed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from ..errors import RemoteError, RemoteUnavailable
from ..jobs import RenderJob
from .claims import ClaimBook
from .outcomes import EventCallback, JobFinished, Outcome, RenderOptions
from .workspace import Workspace


class TeamClaims:
    """One run's claims in the team's store; ``backend(name)`` gives the backend whose account claims."""

    def __init__(self, book: ClaimBook, workspace: Workspace, options: RenderOptions, on_event: EventCallback,
                 backend: Callable[[str], Any]) -> None:
        self.book, self.workspace, self.options, self.on_event = book, workspace, options, on_event
        self._backend = backend
        self._accounts: dict[str, Any] = {}

    def owns(self, key: str) -> bool:
        return self.book.owns(key)

    async def note(self, key: str, **fields: Any) -> None:
        await self.book.note(key, **fields)

    async def close(self) -> None:
        await self.book.close()

    async def pull(self, job: RenderJob) -> Any:
        """A teammate's clip of ``job``, pulled and verified, or None."""
        try:
            return await self.book.pull(job)
        except RemoteError as exc:  # unreachable or refused: this machine's clips only (claims say the rest)
            self.on_event(job.shot_id, "queued", str(exc))
            return None

    def _account(self, backend_name: str) -> Any:
        """The backend's account fingerprint by salt (cached: it is slow on purpose), or None."""
        if backend_name not in self._accounts:
            account = getattr(self._backend(backend_name), "account", None)
            self._accounts[backend_name] = functools.cache(account) if callable(account) else None
        return self._accounts[backend_name]

    async def claim(self, job: RenderJob, ids: list[str]) -> str | None:
        """Claim a paid job before submitting it: None when this run may submit, else the task id another
        machine (same account) submitted, journaled here as adopted. Ends the job (JobFinished) when the
        clip was published meanwhile, or when someone else's task cannot be looked up from here."""
        resubmit = bool({job.key, *ids} & self.options.resubmit or any(job.id.matches(s) for s in self.options.resubmit))
        try:
            decision = await self.book.acquire(job, self._account(job.backend), resubmit=resubmit)
        except RemoteUnavailable as exc:  # nobody can be told: submitting now could pay twice across machines
            raise JobFinished(Outcome(job.key, ids, "skipped", f"{exc}; a paid shot is only submitted under a claim "
                                      "in the shared store, so it waits until the remote is back (or set "
                                      "REELMAKE_REMOTE=none to render on this machine alone)")) from None
        except RemoteError as exc:
            raise JobFinished(Outcome(job.key, ids, "failed", str(exc))) from None
        if decision.kind == "cached":
            assert decision.entry is not None
            raise JobFinished(Outcome(job.key, ids, "cached", sha256=decision.entry.sha256))
        if decision.kind == "held":
            raise JobFinished(Outcome(job.key, ids, "ambiguous", decision.message))
        if decision.kind in ("follow", "adopt"):
            await self.workspace.journal.arecord("submitted", job.key, task_id=decision.task_id, job=job.shot_id,
                                                 adopted=True, machine=decision.machine)
            self.on_event(job.shot_id, "running", f"rendering on {decision.machine} (task {decision.task_id})")
            return decision.task_id
        return None

    async def share(self, job: RenderJob, outcome: Outcome) -> None:
        """Publish a new clip, then let go of the claim (kept while a paid task may still be running)."""
        try:
            if outcome.status == "rendered":
                entry = await asyncio.to_thread(self.workspace.clips.get, job.key)
                if entry is not None:
                    self.on_event(job.shot_id, "running", "publishing to the team's store")
                    await self.book.publish(job, entry)
            state = await asyncio.to_thread(self.workspace.journal.state, job.key)
            await self.book.release(job.key, keep=state is not None and state.in_flight)
        except RemoteError as exc:  # the clip is safe here; `reelmake push` publishes it later
            self.on_event(job.shot_id, "done", f"not published: {exc}")
