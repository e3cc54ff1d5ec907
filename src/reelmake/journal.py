"""The journal of paid provider tasks: append-only JSON lines, fsynced, one owner of "money in flight".

Order of events per render key, written *before* the next step happens:
  intent     → we are about to send the submit (if we crash now, the task may exist: ambiguous)
  submitted  → the provider gave us a task id (resume by polling it; never submit again)
  ambiguous  → the submit may have reached the provider but gave no id (reconcile before resubmitting)
  done       → the clip is in the cache
  failed     → the task ended without a clip (the provider refunds failed tasks)
  abandoned  → the user chose to resubmit an ambiguous render (--resubmit)
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

UNFINISHED = ("intent", "submitted", "ambiguous")


@dataclass(frozen=True)
class TaskState:
    key: str
    job_id: str
    backend: str
    status: str
    task_id: str | None
    since: float  # when the intent was recorded
    updated: float
    error: str | None = None

    @property
    def in_flight(self) -> bool:
        return self.status in UNFINISHED


def _settle(future: asyncio.Future, error: BaseException | None) -> None:
    if not future.done():  # a cancelled waiter (Ctrl-C) still had its line written
        future.set_exception(error) if error else future.set_result(None)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._write_mutex = threading.Lock()
        self._sync_mutex = threading.Lock()
        self._written = 0  # sequence number of the last line written
        self._synced = 0  # ... and of the last line known to be on disk
        self._thread: ThreadPoolExecutor | None = None
        self._pending: list[tuple[str, bool, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._draining = False

    def record(self, event: str, key: str, *, durable: bool = True, **fields: Any) -> None:
        """Append one event; with ``durable`` (the default) return only once it is on disk.

        Only events that later decisions depend on need durability (intent, submitted, ambiguous):
        a lost "done" is harmless because the cache entry itself proves completion.
        Group commit: concurrent writers each append their line, then one fsync covers every line
        written before it, so 50 shots finishing together cost a few fsyncs, not 50 in a row."""
        line = json.dumps({"event": event, "key": key, "at": time.time(), **fields}, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write_mutex, FileLock(str(self.path) + ".lock"):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
            self._written += 1
            mine = self._written
        if not durable:
            return
        with self._sync_mutex:
            if self._synced >= mine:
                return  # another writer's fsync already covered this line
            target = self._written
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = target

    async def arecord(self, event: str, key: str, *, durable: bool = True, **fields: Any) -> None:
        """``record`` for the event loop: returns once the event is written (and on disk if ``durable``).

        Events from concurrent shots are queued to the journal's own thread, which writes everything
        queued so far at once and fsyncs once for all of it (group commit): 50 shots submitting
        together cost one fsync, and the event loop never waits on the disk."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        line = json.dumps({"event": event, "key": key, "at": time.time(), **fields}, sort_keys=True)
        with self._write_mutex:
            self._pending.append((line, durable, loop, done))
            start = not self._draining
            self._draining = True
        if start:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reelmake-journal")
            self._thread.submit(self._drain)
        await done

    def _drain(self) -> None:
        while True:
            with self._write_mutex:
                batch, self._pending = self._pending, []
                if not batch:
                    self._draining = False
                    return
            error: BaseException | None = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with FileLock(str(self.path) + ".lock"):  # other processes append to the same journal
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    try:
                        os.write(fd, "".join(line + "\n" for line, *_ in batch).encode())
                        if any(durable for _, durable, *_ in batch):
                            os.fsync(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:
                error = exc
            for _, _, loop, done in batch:
                loop.call_soon_threadsafe(_settle, done, error)

    def states(self) -> dict[str, TaskState]:
        """The latest state of every key ever journaled (a torn last line from a crash is ignored)."""
        states: dict[str, TaskState] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return states
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            key, kind, at = event["key"], event["event"], event["at"]
            previous = states.get(key)
            if kind == "intent" or previous is None:
                states[key] = TaskState(key, event.get("job", "?"), event.get("backend", "?"),
                                        "intent" if kind == "intent" else kind, event.get("task_id"), at, at,
                                        event.get("error"))
                if kind == "intent":
                    continue
            previous = states[key]
            states[key] = TaskState(key, previous.job_id, previous.backend, kind,
                                    event.get("task_id") or previous.task_id, previous.since, at,
                                    event.get("error"))
        return states

    def in_flight(self) -> dict[str, TaskState]:
        return {k: s for k, s in self.states().items() if s.in_flight}
