"""The journal of paid provider tasks: append-only JSON lines, fsynced, one owner of "money in flight".

Order of events per render key, written *before* the next step happens:
  intent     → we are about to send the submit (if we crash now, the task may exist: ambiguous); it
               records the model, duration and aspect ratio, which is how an ambiguous submit is told
               apart from another one in the provider's history
  submitted  → the provider gave us a task id (resume by polling it; never submit again)
  ambiguous  → the submit may have reached the provider but gave no id (reconcile before resubmitting)
  done       → the clip is in the cache
  failed     → the task ended without a clip (the provider refunds failed tasks)
  abandoned  → the user chose to resubmit an ambiguous render (--resubmit)
A "submitted" event with ``adopted`` or ``reconciled`` set names a task found afterwards (by hand or in the
provider's history) for an ambiguous submit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from filelock import FileLock

UNFINISHED = ("intent", "submitted", "ambiguous")
EVENTS = (*UNFINISHED, "done", "failed", "abandoned")
log = logging.getLogger("reelmake")


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
    model: str | None = None  # from the intent: what tells an ambiguous submit apart in the history
    duration: float | None = None
    aspect: str | None = None
    ended: float | None = None  # when the submit was found ambiguous (None: it never returned)

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
        self._read_mutex = threading.Lock()
        self._states: dict[str, TaskState] = {}
        self._known: set[str] = set()
        self._offset = 0
        self._inode: int | None = None

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

    def _parse(self, chunk: bytes) -> list[dict[str, Any]]:
        """The well-formed events in ``chunk`` (whole lines). Lines that are not events (junk from
        another program, a line torn by a crash) are skipped with a warning: one bad line must never
        block resuming the paid tasks recorded around it."""
        events, skipped = [], 0
        for line in chunk.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if (not isinstance(event, dict) or not isinstance(event.get("key"), str) or event.get("event") not in EVENTS
                    or not isinstance(event.get("at"), (int, float)) or isinstance(event.get("at"), bool)):
                skipped += 1
                continue
            events.append(event)
        if skipped:
            log.warning("%s: skipped %d line(s) that are not journal events", self.path, skipped)
        return events

    def _events(self) -> list[dict[str, Any]]:
        try:
            return self._parse(self.path.read_bytes())
        except FileNotFoundError:
            return []

    def _refresh(self) -> None:
        """Bring the known states up to date with the file, reading only what was appended since the
        last look (the file is append-only; a compaction replaces it, which a new inode reveals)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._states, self._known, self._offset, self._inode = {}, set(), 0, None
            return
        if stat.st_ino != self._inode or stat.st_size < self._offset:
            self._states, self._known, self._offset, self._inode = {}, set(), 0, stat.st_ino
        if stat.st_size == self._offset:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read(stat.st_size - self._offset)
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        self._offset += end
        for event in self._parse(chunk[:end]):
            self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        key, kind, at = event["key"], event["event"], float(event["at"])
        task_id = str(event["task_id"]) if event.get("task_id") not in (None, "") else None
        error = str(event["error"]) if event.get("error") is not None else None
        if task_id:
            self._known.add(task_id)
        previous = self._states.get(key)
        if kind == "intent" or previous is None:
            duration = event.get("duration")
            self._states[key] = TaskState(
                key, str(event.get("job", "?")), str(event.get("backend", "?")), kind, task_id, at, at, error,
                model=str(event["model"]) if event.get("model") else None,
                duration=float(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool)
                else None,
                aspect=str(event["aspect"]) if event.get("aspect") else None,
                ended=at if kind == "ambiguous" else None)
            return
        ended = previous.ended if previous.ended is not None or kind != "ambiguous" else at
        self._states[key] = replace(previous, status=kind, task_id=task_id or previous.task_id, updated=at,
                                    error=error, ended=ended)

    def states(self) -> dict[str, TaskState]:
        """The latest state of every key ever journaled, as the file says now."""
        with self._read_mutex:
            self._refresh()
            return dict(self._states)

    def state(self, key: str) -> TaskState | None:
        """The latest state of one key, as the file says now (what another process wrote included)."""
        with self._read_mutex:
            self._refresh()
            return self._states.get(key)

    def in_flight(self) -> dict[str, TaskState]:
        return {k: s for k, s in self.states().items() if s.in_flight}

    def task_ids(self) -> set[str]:
        """Every provider task id this journal knows (reconciliation must never adopt one of these)."""
        with self._read_mutex:
            self._refresh()
            return set(self._known)

    def snapshot(self) -> tuple[dict[str, TaskState], set[str]]:
        """``states()`` and ``task_ids()`` as of one reading of the file."""
        with self._read_mutex:
            self._refresh()
            return dict(self._states), set(self._known)

    def compact(self, older_than: float, *, margin: float = 3600.0) -> int:
        """Drop the events of keys whose last event is final and older than ``older_than`` (epoch
        seconds); keys still in flight keep every line. Returns the number of lines dropped.

        While any key is unfinished, nothing from ``margin`` seconds before its first event on is
        dropped either: when an ambiguous submit is reconciled, the task ids of the submits around it
        say which tasks in the provider's history are not its own (drop them and it could adopt
        another shot's paid task)."""
        with FileLock(str(self.path) + ".lock"):
            events = self._events()
            last: dict[str, dict[str, Any]] = {}
            first: dict[str, float] = {}
            for event in events:
                last[event["key"]] = event
                first.setdefault(event["key"], event["at"])
            open_since = [first[k] for k, e in last.items() if e["event"] in UNFINISHED]
            cutoff = min([older_than, *(at - margin for at in open_since)])
            drop = {k for k, e in last.items() if e["event"] not in UNFINISHED and e["at"] < cutoff}
            kept = [e for e in events if e["key"] not in drop]
            if len(kept) == len(events):
                return 0
            from ..fsutil import atomic_write_text

            atomic_write_text(self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in kept))
            return len(events) - len(kept)
