"""`<stem>.lock`: what was rendered for each shot, committed beside the storyboard.

YAML, keys sorted, one entry per render (a shot, or `shot@ratio` for a native-ratio render), so a
diff in review reads as "these shots changed". Written atomically after every finished shot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..catalog import money_json
from ..errors import StoryboardError
from ..fsutil import atomic_write_text
from ..jobs import RenderJob

# libyaml when available: ~10x faster than pure Python on locks with thousands of shots.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FORMAT = 1  # the lock format this reelmake writes and reads
WRITE_INTERVAL = 0.5  # seconds between rewrites of the lock during a run
HEADER = "# reelmake lock: what was rendered for each shot. Generated; commit it with the storyboard.\n"


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class LockFile:
    def __init__(self, path: Path, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = Path(path)
        self.entries: dict[str, dict[str, Any]] = entries or {}
        self._mutex = threading.Lock()
        self._dirty = False
        self._writer: threading.Thread | None = None
        self._flushing = threading.Event()
        self._error: OSError | None = None

    @classmethod
    def read(cls, path: Path) -> LockFile:
        """The lock beside a storyboard; a missing lock is an empty one. Anything that is not a lock this
        reelmake wrote is refused with a message (never half-read, never overwritten)."""
        fix = "restore it from git or delete it (the clip store still has the clips)"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise StoryboardError(f"{path}: cannot read the lock file ({exc}); {fix}") from None
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise StoryboardError(f"{path}: the lock file is not valid YAML ({exc}); {fix}") from None
        if data is None:
            return cls(path)
        if not isinstance(data, dict):
            raise StoryboardError(f"{path}: not a reelmake lock (a YAML mapping with 'reelmake' and 'shots'); {fix}")
        version = data.get("reelmake", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT:
            raise StoryboardError(f"{path}: lock format {version!r} is newer than this reelmake reads (up to "
                                  f"{FORMAT}); upgrade reelmake, or {fix}")
        shots = data.get("shots") or {}
        if not isinstance(shots, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in shots.items()):
            raise StoryboardError(f"{path}: its 'shots' are not entries reelmake wrote; {fix}")
        return cls(path, dict(shots))

    def entry_for(self, job: RenderJob, *, clip_sha256: str, task_id: str | None) -> dict[str, Any]:
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

    def record(self, job: RenderJob, *, clip_sha256: str, task_id: str | None) -> None:
        """Record one finished render and write the file at once, so an interrupted run keeps it."""
        with self._mutex:
            old = self.entries.get(job.shot_id)
            if old and old.get("key") == job.key and old.get("clip_sha256") == clip_sha256:
                return  # unchanged: keep the timestamp, keep the diff quiet
            self.entries[job.shot_id] = self.entry_for(job, clip_sha256=clip_sha256, task_id=task_id)
        self._schedule_write()

    def retain(self, job_ids: Iterable[str]) -> None:
        """Drop entries of renders the storyboard no longer has."""
        keep = set(job_ids)
        with self._mutex:
            if not set(self.entries) - keep:
                return
            self.entries = {k: v for k, v in self.entries.items() if k in keep}
        self._schedule_write()

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
                snapshot = {"reelmake": FORMAT, "shots": dict(self.entries)}
            body = yaml.dump(snapshot, Dumper=_Dumper, sort_keys=True, allow_unicode=True,
                             default_flow_style=False, width=100)
            try:
                atomic_write_text(self.path, HEADER + body)
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
