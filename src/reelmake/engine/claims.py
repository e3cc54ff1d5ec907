"""Claims: the cross-machine version of a render key's file lock, kept in the team's remote store.

Before a machine submits a paid job it claims the key with a conditional create of
``<remote>/claims/<key>.json`` (``If-None-Match: *`` on S3, an exclusive create on a file system):
exactly one machine wins. The claim says who holds it (machine, workspace, run), the provider task id
once known, when the submit was sent, and a heartbeat the holder rewrites every few seconds. It is
deleted once the clip is published, or when no task exists any more; while a paid task may still run,
it stays.

A machine that finds someone else's claim never submits. It waits for the clip to be published (the
progress says "rendering on <machine>"); if it holds the same provider account it polls the same task
instead. Whether two machines hold the same account is told without the key leaving either: a claim
carries a random salt and a slow salted hash (scrypt) of the key and endpoint, which only a holder of
the same key can reproduce. A claim is stale when its heartbeat has not changed for ``ttl`` seconds
while this machine watched (no clocks are compared). A stale claim is taken over only after the
provider has been asked about its task: with the same account, the task is polled as ours (a failed
task is refunded, and only then is a new one submitted); without it, or when a submit was sent whose
task id never arrived, the shot is held, like an ambiguous submit, until the other machine comes back
or someone passes ``--resubmit``. Taking over is itself exclusive: the taker first creates
``<key>.json.<version>.takeover`` for the claim version it saw, so two machines never both take it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RemoteError
from ..jobs import RenderJob
from .clips import ClipStore, Entry
from .lock import now_iso
from .remote import RemoteStore

log = logging.getLogger("reelmake")
MACHINE_ENV = "REELMAKE_MACHINE"
# account(salt) → a one-way digest of the backend's key and endpoint, or None when it cannot tell
Account = Callable[[bytes], "str | None"] | None


def machine_name() -> str:
    """How this machine is called in claims and sidecars: ``REELMAKE_MACHINE``, else the host name."""
    return (os.environ.get(MACHINE_ENV) or "").strip() or socket.gethostname() or "unknown"


@dataclass(frozen=True)
class Claim:
    """A claim as read from the remote."""

    key: str
    body: dict[str, Any]
    version: str  # hash of its bytes: a heartbeat changes it

    def __getattr__(self, name: str) -> Any:
        if name in ("machine", "workspace", "run", "task_id", "sent_at", "account"):
            return self.body.get(name)
        raise AttributeError(name)


@dataclass(frozen=True)
class Decision:
    """What claiming a key came to.

    - ``owned``: this run holds the claim and may submit;
    - ``cached``: the clip was published meanwhile and is now in the local store (``entry``);
    - ``follow``: another machine on the same account renders it: poll its ``task_id``, hold nothing;
    - ``adopt``: a stale claim of the same account was taken over: poll its ``task_id`` as ours;
    - ``held``: someone else's task may be running and cannot be looked up from here (``message``)."""

    kind: str
    entry: Entry | None = None
    task_id: str | None = None
    machine: str | None = None
    message: str | None = None


class ClaimBook:
    """This run's side of the claims in one remote store; every method may raise ``RemoteError``."""

    def __init__(self, store: RemoteStore, clips: ClipStore, tmp_dir: Path, *, workspace_id: str,
                 heartbeat: float = 15.0, ttl: float = 90.0, poll: float = 5.0,
                 on_event: Callable[[str, str, str], None] = lambda *a: None) -> None:
        self.store, self.clips, self.tmp_dir = store, clips, tmp_dir
        self.machine, self.workspace_id, self.run_id = machine_name(), workspace_id, uuid.uuid4().hex
        self.heartbeat, self.ttl, self.poll, self.on_event = heartbeat, ttl, poll, on_event
        self.salt = os.urandom(16)
        self.held: dict[str, dict[str, Any]] = {}
        self.following: set[str] = set()  # keys whose task another machine of our account submitted
        self.damaged: dict[str, str] = {}
        self._markers: dict[str, str] = {}  # key → the takeover marker this run created  # key → sha256 of a remote clip found not to match its sidecar
        self._beats: dict[str, asyncio.Task] = {}
        # One write at a time per claim, so a heartbeat in flight never recreates a claim just released.
        self._writing: dict[str, asyncio.Lock] = {}
        self._seen: dict[tuple[str, str], float] = {}

    # -- reading ---------------------------------------------------------------------------------
    async def read(self, key: str) -> Claim | None:
        raw = await asyncio.to_thread(self.store.read, self.store.claim_path(key))
        if raw is None:
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):  # half-written by a share without atomic creates: nobody's yet
            body = {"machine": "another machine"}
        return Claim(key, body, hashlib.sha256(raw).hexdigest())

    def _stale(self, claim: Claim) -> bool:
        first = self._seen.setdefault((claim.key, claim.version), time.monotonic())
        return time.monotonic() - first >= self.ttl

    def _same_account(self, claim: Claim, account: Account) -> bool:
        theirs = claim.account
        if account is None or not isinstance(theirs, dict):
            return False
        try:
            salt = bytes.fromhex(str(theirs.get("salt")))
        except ValueError:
            return False
        mine = account(salt)  # the caller caches it by salt: scrypt is slow on purpose
        return mine is not None and mine == theirs.get("digest")

    async def pull(self, job: RenderJob) -> Entry | None:
        """The key's published clip, verified, into the local store; None when there is none or it is
        damaged (remembered, with its sidecar kept locally so its task can be downloaded again)."""
        meta = await asyncio.to_thread(self.store.sidecar, job.key)
        if meta is None or (meta.get("sha256") is not None and self.damaged.get(job.key) == meta.get("sha256")):
            return None
        pulled = await asyncio.to_thread(self.store.pull, job.key, self.clips, self.tmp_dir)
        if pulled.damaged is not None:
            self.damaged[job.key] = str(pulled.damaged.get("sha256"))
            self.on_event(job.shot_id, "queued", "the clip in the remote store does not match its checksum; "
                                                 "it is not used")
            log.warning("%s: the remote clip %s does not match its sidecar; rendering it again",
                        job.shot_id, self.store.clip_path(job.key))
            if self.clips.damaged(job.key) is None:
                await asyncio.to_thread(self.clips.set_damaged, job.key, pulled.damaged)
        return pulled.entry

    # -- claiming --------------------------------------------------------------------------------
    def _body(self, job: RenderJob, account: Account) -> dict[str, Any]:
        digest = account(self.salt) if account is not None else None
        return {"reelmake_claim": 1, "key": job.key, "shot": job.shot_id, "host": job.backend, "model": job.model,
                "machine": self.machine, "workspace": self.workspace_id, "run": self.run_id,
                "claimed_at": now_iso(), "heartbeat": now_iso(), "beat": 0, "task_id": None, "sent_at": None,
                "account": {"salt": self.salt.hex(), "digest": digest} if digest else None}

    @staticmethod
    def _bytes(body: dict[str, Any]) -> bytes:
        return json.dumps(body, indent=2, sort_keys=True).encode()

    def owns(self, key: str) -> bool:
        return key in self.held

    async def acquire(self, job: RenderJob, account: Account = None, *, resubmit: bool = False) -> Decision:
        """Claim ``job``'s key before a paid submit, or say why not (see :class:`Decision`).

        Waits (without limit: the other machine's render has its own timeout) while another machine
        holds a live claim of another account; ``resubmit`` lets a held claim be taken over anyway."""
        key, told = job.key, None
        if key in self.held:
            return Decision("owned")
        while True:
            body = self._body(job, account)
            path = self.store.claim_path(key)
            if await asyncio.to_thread(self.store.create, path, self._bytes(body)):
                return await self._owned(job, body)
            other = await self.read(key)
            if other is None:
                continue  # released between our create and our read: try again
            # An earlier run of this workspace: its journal is ours. Only on this machine, though: a copied
            # identity.json gives another machine the same workspace id, and both would submit. There, the
            # claim is ours only once stale, and then through a takeover marker, so only one copy takes it.
            if other.workspace == self.workspace_id and (other.machine == self.machine or self._stale(other)):
                body = {**body, "task_id": other.task_id, "sent_at": other.sent_at}
                if other.machine == self.machine:
                    await asyncio.to_thread(self.store.write, path, self._bytes(body))
                elif not await self._take_over(other, body):
                    continue
                return await self._owned(job, body)
            entry = await self.pull(job)
            if entry is not None:
                return Decision("cached", entry=entry, machine=other.machine)
            same = self._same_account(other, account)
            if not self._stale(other):
                if same and other.task_id:
                    self.following.add(key)
                    return Decision("follow", task_id=other.task_id, machine=other.machine)
                message = f"rendering on {other.machine}" + (f" (task {other.task_id})" if other.task_id else "")
                if message != told:
                    self.on_event(job.shot_id, "queued", message)
                    told = message
                await asyncio.sleep(self.poll)
                continue
            # Stale: the other machine stopped. Its task, if any, is asked about before anything is sent.
            if other.task_id and same:
                adopted = {**body, "task_id": other.task_id, "sent_at": other.sent_at}
                if await self._take_over(other, adopted):
                    self._hold(key, adopted)
                    return Decision("adopt", task_id=other.task_id, machine=other.machine)
                continue
            if (other.task_id or other.sent_at) and not resubmit:
                what = f"its task {other.task_id}" if other.task_id else "a submit it sent (no task id came back)"
                return Decision("held", machine=other.machine, message=(
                    f"{other.machine} claimed {job.shot_id} and stopped (no heartbeat for {self.ttl:g} s); "
                    f"{what} can only be looked up with that machine's provider key. Run reelmake render there "
                    f"to finish it, or pass --resubmit {job.shot_id} to pay for it again here"))
            if await self._take_over(other, body):
                return await self._owned(job, body)

    async def _take_over(self, stale: Claim, body: dict[str, Any]) -> bool:
        marker = f"{self.store.claim_path(stale.key)}.{stale.version[:16]}.takeover"
        if not await asyncio.to_thread(self.store.create, marker, self._bytes(body)):
            return False  # another machine took this very claim first
        self._markers[stale.key] = marker
        await asyncio.to_thread(self.store.write, self.store.claim_path(stale.key), self._bytes(body))
        return True

    async def _owned(self, job: RenderJob, body: dict[str, Any]) -> Decision:
        self._hold(job.key, body)
        # The clip may have been published between our look and our claim (the lock-then-look rule).
        entry = await self.pull(job)
        if entry is not None:
            await self.release(job.key)
            return Decision("cached", entry=entry)
        return Decision("owned")

    def _lock(self, key: str) -> asyncio.Lock:
        return self._writing.setdefault(key, asyncio.Lock())

    def _hold(self, key: str, body: dict[str, Any]) -> None:
        self.held[key] = body
        if key not in self._beats:
            self._beats[key] = asyncio.create_task(self._beat(key))

    async def _ours(self, key: str, body: dict[str, Any]) -> bool:
        """Whether the stored claim on ``key`` is still this run's; call it under ``_lock(key)``. Once
        another machine took a stale claim of ours over, a late write or delete of ours would clobber its
        live claim and let a third machine claim and pay again; so we let go of it instead."""
        current = await self.read(key)
        if current is not None and current.run == self.run_id:
            return True
        self.held.pop(key, None)
        log.warning("the claim on %s was taken over by %s", body.get("shot"),
                    current.machine if current else "nobody")
        return False

    async def _beat(self, key: str) -> None:
        """Rewrite the heartbeat while the claim is ours; stop if someone took it over."""
        while True:
            await asyncio.sleep(self.heartbeat)
            async with self._lock(key):
                body = self.held.get(key)
                if body is None:  # released
                    return
                try:
                    if not await self._ours(key, body):
                        return
                    body["beat"] = int(body.get("beat", 0)) + 1
                    body["heartbeat"] = now_iso()
                    await asyncio.to_thread(self.store.write, self.store.claim_path(key), self._bytes(body))
                except RemoteError as exc:  # the remote went away: the render goes on; others see it stale
                    log.warning("cannot refresh the claim on %s: %s", body.get("shot"), exc)

    async def note(self, key: str, **fields: Any) -> None:
        """Record the task id (or when the submit was sent) in our claim, for the other machines."""
        body = self.held.get(key)
        if body is None or all(body.get(k) == v for k, v in fields.items()):
            return
        body.update(fields)
        try:
            async with self._lock(key):
                if key in self.held and await self._ours(key, body):
                    await asyncio.to_thread(self.store.write, self.store.claim_path(key), self._bytes(body))
        except RemoteError as exc:
            log.warning("cannot record %s in the claim on %s: %s", ", ".join(fields), body.get("shot"), exc)

    async def release(self, key: str, *, keep: bool = False) -> None:
        """Stop holding ``key``. ``keep``: a paid task may still run, so the claim stays for others to see
        (it goes stale, and they ask the provider before anything else); otherwise it is deleted."""
        body = self.held.pop(key, None)  # the heartbeat sees it gone and ends
        self._beats.pop(key, None)
        if body is None or keep:
            return
        async with self._lock(key):  # after any heartbeat write in flight
            if await self._ours(key, body):
                await asyncio.to_thread(self.store.delete, self.store.claim_path(key))
        marker = self._markers.pop(key, None)
        if marker is not None:  # after the claim: while it stood, the marker kept others from re-taking it
            await asyncio.to_thread(self.store.delete, marker)

    async def publish(self, job: RenderJob, entry: Entry) -> bool:
        """Publish a clip rendered here. Under our claim (paid renders); for a free render, under a claim
        taken just for publishing, and not at all when another machine holds one."""
        if job.key in self.held:
            return await asyncio.to_thread(self.store.publish, entry, self.machine, replace=job.key in self.damaged)
        if job.key in self.following:  # the same task's output as its holder's: the same bytes, safe to race
            return await asyncio.to_thread(self.store.publish, entry, self.machine)
        body = self._body(job, None)
        if not await asyncio.to_thread(self.store.create, self.store.claim_path(job.key), self._bytes(body)):
            return False
        self.held[job.key] = body
        try:
            return await asyncio.to_thread(self.store.publish, entry, self.machine, replace=job.key in self.damaged)
        finally:
            await self.release(job.key)

    async def close(self) -> None:
        for beat in self._beats.values():
            beat.cancel()
        self._beats.clear()


__all__ = ["MACHINE_ENV", "Claim", "ClaimBook", "Decision", "machine_name"]
