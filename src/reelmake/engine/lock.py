"""`<stem>.lock`: what was rendered for each shot, and what people decided, committed beside the storyboard.

Format 2, YAML, every mapping sorted, so a diff in review reads as "these shots changed"::

    reelmake: 2
    decisions:                     # human decisions: never rewritten by a render
      lace-up: {approved: 2, by: alice, at: …, note: …, key: <the approved clip's render key>,
                rejected: [{take: 1, note: …, by: …, at: …, clip: <its render key>}]}
    renders:                       # generated: one entry per job (str(JobId): shot[@ratio][#take]) …
      animatic: {lace-up: {key: …, request: …, …}, lace-up#2: {…}}
      wavespeed: {lace-up: {…}}    # … kept per backend side by side: a preview never rewrites a final
    history:                       # earlier renders a job id had (a changed request, a removed shot)
      wavespeed: {lace-up: [{key: …, superseded_at: …, …}]}

Every clip the lock references carries its render key as a ``key:`` field (``workspace.lock_keys``
keeps those clips from ``gc``); ``gc`` drops history older than its grace period, and with it those
clips. Format 1 (``shots: {id: entry}``) is read and written as format 2 by the next change.

Two processes may write one lock: a render records clips while someone approves a take. Every write
happens under a file lock, and a render's write takes the decisions from the file as it is then, so
neither overwrites the other's part.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from filelock import FileLock

from ..catalog import money_json
from ..errors import StoryboardError
from ..fsutil import atomic_write_text
from ..jobs import JobId, RenderJob

# libyaml when available: ~10x faster than pure Python on locks with thousands of shots.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FORMAT = 2  # the lock format this reelmake writes (and the newest it reads)
WRITE_INTERVAL = 0.5  # seconds between rewrites of the lock during a run
HEADER = "# reelmake lock: what was rendered for each shot. Generated; commit it with the storyboard.\n"
_FIX = "restore it from git or delete it (the clip store still has the clips)"
_HISTORY_FIELDS = ("key", "model", "cost", "task_id", "clip_sha256", "rendered_at")

Entry = dict[str, Any]
T = TypeVar("T")


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _mutex_path(path: Path) -> Path:
    """Where the file lock guarding writes to ``path`` lives: outside the project (nothing to commit or
    ignore), one per user and lock file, whichever workspace each process uses."""
    digest = hashlib.sha256(str(Path(path).absolute().resolve()).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"reelmake-{os.getuid()}" / f"{digest}.lock"


def _parse(path: Path, text: str) -> dict[str, Any]:
    """The file's sections, format 1 read as format 2; StoryboardError for anything else."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise StoryboardError(f"{path}: the lock file is not valid YAML ({exc}); {_FIX}") from None
    if data is None:
        return {"renders": {}, "history": {}, "decisions": {}}
    if not isinstance(data, dict):
        raise StoryboardError(f"{path}: not a reelmake lock (a YAML mapping with 'reelmake' and 'renders'); {_FIX}")
    version = data.get("reelmake", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT:
        raise StoryboardError(f"{path}: lock format {version!r} is newer than this reelmake reads (up to "
                              f"{FORMAT}); upgrade reelmake, or {_FIX}")
    if version == 1:
        shots = data.get("shots") or {}
        if not isinstance(shots, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in shots.items()):
            raise StoryboardError(f"{path}: its 'shots' are not entries reelmake wrote; {_FIX}")
        renders: dict[str, dict[str, Entry]] = {}
        for name, entry in shots.items():
            renders.setdefault(str(entry.get("backend", "?")), {})[name] = entry
        return {"renders": renders, "history": {}, "decisions": {}}
    sections = {}
    for name, inner in (("renders", dict), ("history", list)):
        value = data.get(name) or {}
        if not (isinstance(value, dict) and all(
                isinstance(b, str) and isinstance(jobs, dict)
                and all(isinstance(j, str) and isinstance(e, inner) for j, e in jobs.items())
                for b, jobs in value.items())):
            raise StoryboardError(f"{path}: its '{name}' are not entries reelmake wrote; {_FIX}")
        sections[name] = value
    decisions = data.get("decisions") or {}
    if not isinstance(decisions, dict) or not all(isinstance(k, str) and isinstance(v, dict)
                                                  for k, v in decisions.items()):
        raise StoryboardError(f"{path}: its 'decisions' are not shot → decision mappings; {_FIX}")
    return {**sections, "decisions": decisions}


def _dump(renders: Mapping[str, Any], history: Mapping[str, Any], decisions: Mapping[str, Any]) -> str:
    """The file's text: the format first, then the people's part, then the generated parts."""

    def block(name: str, value: Mapping[str, Any]) -> str:
        if not value:
            return ""
        return yaml.dump({name: value}, Dumper=_Dumper, sort_keys=True, allow_unicode=True,
                         default_flow_style=False, width=100)

    renders = {b: jobs for b, jobs in renders.items() if jobs}
    history = {b: jobs for b, jobs in history.items() if jobs}
    return (HEADER + f"reelmake: {FORMAT}\n" + block("decisions", decisions) + block("renders", renders)
            + block("history", history))


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class LockFile:
    def __init__(self, path: Path, renders: dict[str, dict[str, Entry]] | None = None,
                 history: dict[str, dict[str, list[Entry]]] | None = None,
                 decisions: dict[str, Entry] | None = None) -> None:
        self.path = Path(path)
        self.renders: dict[str, dict[str, Entry]] = renders or {}
        self.history: dict[str, dict[str, list[Entry]]] = history or {}
        self.decisions: dict[str, Entry] = decisions or {}
        self._mutex = threading.Lock()
        self._file_mutex = FileLock(str(_mutex_path(self.path)), thread_local=False)
        self._seen = _signature(self.path)  # the file as this object last read or wrote it
        self._dirty = False
        self._writer: threading.Thread | None = None
        self._flushing = threading.Event()
        self._error: OSError | None = None

    @classmethod
    def read(cls, path: Path) -> LockFile:
        """The lock beside a storyboard; a missing lock is an empty one. Anything that is not a lock this
        reelmake can read is refused with a message (never half-read, never overwritten)."""
        text = cls._text(Path(path))
        data = _parse(Path(path), text) if text is not None else {}
        return cls(path, data.get("renders"), data.get("history"), data.get("decisions"))

    @staticmethod
    def _text(path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoryboardError(f"{path}: cannot read the lock file ({exc}); {_FIX}") from None

    # -- reading --------------------------------------------------------------------------------
    def sections(self) -> dict[str, dict[str, Entry]]:
        """backend → job id → entry: what the plan compares with."""
        return self.renders

    def entry(self, backend: str, job_id: str) -> Entry | None:
        return self.renders.get(backend, {}).get(job_id)

    def take_index(self, backend: str) -> dict[JobId, dict[int, str]]:
        """Each render (a shot at a ratio, as its take 1's id) → the takes this backend's entries record,
        {take: render key}."""
        out: dict[JobId, dict[int, str]] = {}
        for name, entry in self.renders.get(backend, {}).items():
            try:
                job_id = JobId.parse(name)
            except ValueError:
                continue  # a hand-edited key: not ours to read
            if isinstance(entry.get("key"), str):
                out.setdefault(JobId(job_id.shot, job_id.variant, job_id.aspect), {})[job_id.take] = entry["key"]
        return out

    # -- generated entries ------------------------------------------------------------------------
    def entry_for(self, job: RenderJob, *, clip_sha256: str, task_id: str | None) -> Entry:
        return {
            "key": job.key,
            "backend": job.backend,
            "model": job.model,
            "cost": money_json(job.cost),
            "request": dict(job.request),
            "inputs": {sha: f.name for sha, f in sorted(job.files.items())},
            "task_id": task_id,
            "clip_sha256": clip_sha256,
            "rendered_at": now_iso(),
        }

    def _archive(self, backend: str, job_id: str, old: Entry) -> None:
        """Keep a replaced render in the history (once per key), so its clip stays until gc."""
        kept = [e for e in self.history.get(backend, {}).get(job_id, []) if e.get("key") != old.get("key")]
        kept.append({**{k: old.get(k) for k in _HISTORY_FIELDS if k in old}, "superseded_at": now_iso()})
        self.history.setdefault(backend, {})[job_id] = kept

    def record(self, job: RenderJob, *, clip_sha256: str, task_id: str | None) -> None:
        """Record one finished render and write the file soon, so an interrupted run keeps it."""
        with self._mutex:
            section = self.renders.setdefault(job.backend, {})
            old = section.get(job.shot_id)
            if old and old.get("key") == job.key and old.get("clip_sha256") == clip_sha256:
                return  # unchanged: keep the timestamp, keep the diff quiet
            if old and old.get("key") != job.key:
                self._archive(job.backend, job.shot_id, old)
            section[job.shot_id] = self.entry_for(job, clip_sha256=clip_sha256, task_id=task_id)
        self._schedule_write()

    def retain(self, current: Mapping[str, Iterable[str]]) -> None:
        """Move to the history the entries of renders the storyboard no longer has, in the sections of
        the backends in ``current`` (backend → job ids) only: a preview never touches a final's part."""
        changed = False
        with self._mutex:
            for backend, job_ids in current.items():
                keep = set(job_ids)
                section = self.renders.get(backend, {})
                for name in sorted(set(section) - keep):
                    self._archive(backend, name, section.pop(name))
                    changed = True
        if changed:
            self._schedule_write()

    # -- writing ----------------------------------------------------------------------------------
    def _refresh_decisions(self) -> None:
        """Under the file lock: take the decisions from the file when someone else wrote it."""
        if _signature(self.path) == self._seen:
            return
        text = self._text(self.path)
        self.decisions = _parse(self.path, text)["decisions"] if text is not None else {}

    def _write_now(self) -> None:
        """Under the file lock: write this object's entries with the file's current decisions."""
        self._refresh_decisions()
        with self._mutex:
            text = _dump(copy.deepcopy(self.renders), copy.deepcopy(self.history), copy.deepcopy(self.decisions))
        atomic_write_text(self.path, text)
        self._seen = _signature(self.path)

    def update_decisions(self, change: Callable[[dict[str, Entry]], T]) -> T:
        """Apply ``change`` to the decisions as they are on disk now, and write at once, all under the
        file lock, so a concurrent render (or review page) loses nothing."""
        with self._file_mutex:
            text = self._text(self.path)
            data = _parse(self.path, text) if text is not None else {"renders": {}, "history": {}, "decisions": {}}
            decisions = data["decisions"]
            result = change(decisions)
            atomic_write_text(self.path, _dump(data["renders"], data["history"], decisions))
            self._seen = _signature(self.path)
            with self._mutex:
                self.decisions = decisions
                if not self._dirty:  # nothing of ours pending: the file's generated part is current
                    self.renders, self.history = data["renders"], data["history"]
        return result

    def prune_history(self, before: str, *, dry_run: bool = False) -> list[str]:
        """Drop history entries superseded before ``before`` (ISO time); their render keys. For ``gc``."""
        dropped: list[str] = []

        def prune(data: dict[str, Any]) -> None:
            for backend, jobs in data["history"].items():
                for name in list(jobs):
                    kept = [e for e in jobs[name] if str(e.get("superseded_at", "")) >= before]
                    dropped.extend(str(e.get("key")) for e in jobs[name] if e not in kept)
                    if kept:
                        jobs[name] = kept
                    else:
                        del jobs[name]

        with self._file_mutex:
            text = self._text(self.path)
            if text is None:
                return []
            data = _parse(self.path, text)
            prune(data)
            if dropped and not dry_run:
                atomic_write_text(self.path, _dump(data["renders"], data["history"], data["decisions"]))
        return dropped

    def _schedule_write(self) -> None:
        """Write in a background thread. Every record triggers a write that includes it, within
        WRITE_INTERVAL seconds; records arriving meanwhile share that write, so a 1,000-shot run does
        not rewrite a growing file 1,000 times. Losing the last interval to a crash is harmless: the
        cache holds the clips, and the next run records cached shots in the lock again."""
        with self._mutex:
            self._dirty = True
            if self._writer is not None:
                return
            self._writer = threading.Thread(target=self._write_loop, name="reelmake-lock-writer", daemon=True)
            self._writer.start()

    def _write_loop(self) -> None:
        while True:
            with self._mutex:
                if not self._dirty:
                    self._writer = None
                    return
                self._dirty = False
            try:
                with self._file_mutex:
                    self._write_now()
            except OSError as exc:  # reported by flush(); the old lock stays whole (atomic write)
                self._error = exc
            self._flushing.wait(WRITE_INTERVAL)  # pace the rewrites; flush() cuts the wait short

    def flush(self) -> None:
        """Wait until everything recorded so far is on disk (StoryboardError if it could not be written)."""
        self._flushing.set()
        while True:
            with self._mutex:
                writer = self._writer
            if writer is None:
                self._flushing.clear()
                break
            writer.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise StoryboardError(f"{self.path}: cannot write the lock ({error.strerror or error}); the clips are "
                                  "in the clip store, and the next run records them again") from None
