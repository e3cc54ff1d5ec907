"""A project's side of the team's remote store: which one (``reelmake.toml``), what the plan finds there,
and moving clips to and from it (``render``'s pulls, ``reelmake push`` / ``reelmake pull``).

The store itself is engine.remote; claims on paid renders are engine.claims. Everything here degrades:
an unreachable remote is a warning and the local store goes on alone; refused credentials are an error
a person must fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RemoteError, RemoteUnavailable, StoryboardError
from ..jobs import RenderJob
from .claims import ClaimBook
from .config import ProjectConfig, read_config
from .remote import RemoteStore
from .workspace import Workspace

if TYPE_CHECKING:
    from ..core.plan import Plan
    from .project import Project

log = logging.getLogger("reelmake")
OFF = ("", "none", "off", "false", "0")
CONCURRENT_TRANSFERS = 8


def open_remote(root: Path, config: ProjectConfig | None = None) -> RemoteStore | None:
    """The project's remote store (``REELMAKE_REMOTE``, else ``remote`` in ``reelmake.toml``), or None
    when there is none or it is turned off (``REELMAKE_REMOTE=none``). Opening sends nothing."""
    config = config or read_config(root)
    url = config.get("remote")
    if not isinstance(url, str) or url.strip().lower() in OFF:
        return None
    return RemoteStore.open(url.strip())


def claim_book(store: RemoteStore, workspace: Workspace, config: ProjectConfig,
               on_event: Callable[[str, str, str], None]) -> ClaimBook:
    """This run's claims in ``store``, timed by ``reelmake.toml`` (heartbeat, ttl, poll)."""
    return ClaimBook(store, workspace.clips, workspace.tmp_dir(), workspace_id=workspace.identity(),
                     heartbeat=config.seconds("claim_heartbeat", 15.0), ttl=config.seconds("claim_ttl", 90.0),
                     poll=config.seconds("remote_poll", 5.0), on_event=on_event)


def remote_hits(store: RemoteStore | None, keys: Iterable[str]) -> set[str]:
    """Which ``keys`` (the local misses) the remote has: one batched lookup, never one per shot. An
    unreachable remote is a warning and finds nothing; refused credentials raise RemoteRefused."""
    keys = set(keys)
    if store is None or not keys:
        return set()
    try:
        return store.published(keys)
    except RemoteUnavailable as exc:
        log.warning("%s", exc)
        return set()


@dataclass
class Transfer:
    """What ``push`` or ``pull`` did, by job id."""

    moved: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already where they were to go
    missing: list[str] = field(default_factory=list)  # in neither store (not rendered yet)
    damaged: list[str] = field(default_factory=list)  # in the remote, but not matching their checksum
    busy: list[str] = field(default_factory=list)  # another machine holds a claim on them
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.damaged

    def to_json(self) -> dict[str, object]:
        return {"moved": self.moved, "present": self.present, "missing": self.missing, "damaged": self.damaged,
                "busy": self.busy, "errors": self.errors}


async def _each(jobs: list[RenderJob], step: Callable[[RenderJob], object]) -> None:
    gate = asyncio.Semaphore(CONCURRENT_TRANSFERS)

    async def one(job: RenderJob) -> None:
        async with gate:
            await step(job)  # type: ignore[misc]

    await asyncio.gather(*(one(job) for job in jobs))


async def pull_jobs(book: ClaimBook, jobs: list[RenderJob], transfer: Transfer | None = None) -> Transfer:
    """Pull each job's clip (each key once) into the local store, verified; damaged ones are listed."""
    transfer = transfer or Transfer()
    unique = list({job.key: job for job in jobs}.values())

    async def step(job: RenderJob) -> None:
        if await asyncio.to_thread(book.clips.get, job.key, verify=True) is not None:
            transfer.present.append(job.shot_id)
            return
        try:
            entry = await book.pull(job)
        except RemoteError as exc:
            transfer.errors[job.shot_id] = str(exc)
            return
        if entry is not None:
            transfer.moved.append(job.shot_id)
        elif job.key in book.damaged:
            transfer.damaged.append(job.shot_id)
        else:
            transfer.missing.append(job.shot_id)

    await _each(unique, step)
    return transfer


async def push_jobs(book: ClaimBook, jobs: list[RenderJob]) -> Transfer:
    """Publish each job's local clip (each key once) that the remote lacks, under a claim."""
    transfer = Transfer()
    unique = list({job.key: job for job in jobs}.values())
    published = await asyncio.to_thread(book.store.published, [job.key for job in unique])

    async def step(job: RenderJob) -> None:
        entry = await asyncio.to_thread(book.clips.get, job.key, verify=True)
        if entry is None:
            (transfer.present if job.key in published else transfer.missing).append(job.shot_id)
            return
        if job.key in published:
            transfer.present.append(job.shot_id)
            return
        try:
            moved = await book.publish(job, entry)
        except RemoteError as exc:
            transfer.errors[job.shot_id] = str(exc)
            return
        (transfer.moved if moved else transfer.busy).append(job.shot_id)

    await _each(unique, step)
    return transfer


async def pull_planned(project: Project, plan: Plan, only: list[str], jobs: list[RenderJob],
                       on_event: Callable[[str, str, str], None]) -> tuple[ClaimBook, list[RenderJob]]:
    """Before a render prices or submits anything: reach the team's store (refused credentials stop the
    render here), pull the clips the plan found there, and render again those whose copy there is
    damaged or gone. Returns this run's claims and the jobs to run."""
    store = project.remote()
    assert store is not None
    book = claim_book(store, project.workspace, read_config(project.campaign.root), on_event)
    try:
        await asyncio.to_thread(store.check)
    except RemoteUnavailable as exc:  # free shots render here; paid ones wait for a claim (orchestrator)
        log.warning("%s", exc)
        return book, jobs
    rows = [r for r in plan.rows if r.status == "cached" and r.where == "remote" and r.job is not None
            and (not only or any(r.id.matches(s) for s in only))]
    if rows:
        await pull_jobs(book, [r.job for r in rows if r.job is not None])
        jobs = jobs + [r.job for r in rows if r.job is not None and not project.workspace.clips.has(r.key)]
    return book, jobs


def transfer(project: Project, step: Callable[[ClaimBook, list[RenderJob]], Any]) -> Transfer:
    """Run ``push_jobs`` or ``pull_jobs`` over every current job of ``project``; what came in is
    recorded in the lock, as after a render."""
    store = project.remote()
    if store is None:
        raise StoryboardError(f"{project.campaign.root} has no remote store: set remote = \"s3://bucket/prefix\" "
                              "(or gs://, az://, file:///…) in reelmake.toml, or REELMAKE_REMOTE")
    jobs = [j for js in project.current_jobs().values() for j in js]

    async def run() -> Transfer:
        book = claim_book(store, project.workspace, read_config(project.campaign.root), lambda *a: None)
        try:
            await asyncio.to_thread(store.check)
            return await step(book, jobs)
        finally:
            await book.close()

    result = asyncio.run(run())
    lock = project.lock
    for job in jobs:
        entry = project.workspace.clips.get(job.key)
        if entry is not None and (lock.entry(job.backend, str(job.id)) or {}).get("key") != job.key:
            lock.record(job, clip_sha256=entry.sha256, task_id=entry.meta.get("task_id"))
    lock.flush()
    return result


__all__ = ["Transfer", "claim_book", "open_remote", "pull_jobs", "pull_planned", "push_jobs", "remote_hits",
           "transfer"]
