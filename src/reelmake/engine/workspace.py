"""The workspace: the one owner of ``.reelmake/`` (or ``--cache-dir`` / ``REELMAKE_CACHE_DIR``).

Layout, version 2 (``layout.json``)::

    clips/<k[:2]>/<key>.mp4, .json   the clip store, by render key (engine.clips)
    memo.json                        file hashes and probe results by (path, size, mtime, inode)
    journal.jsonl                    paid tasks in flight: the only record of money not yet in a clip
    locks/<key>.lock                 per-render-key file locks: one process renders a key at a time
    identity.json                    this workspace's random id (claims in a shared remote name it)
    backends/<name>/                 each backend's own files (upload records, scratch space)
    edit/                            the editor's cached intermediates
    review/                          the review page's poster frames
    tmp/                             downloads and renders in progress (left by killed runs: cleaned)

Version 1 (reelmake 0.1) had ``hashes.json`` and ``uploads/``; opening it moves the upload records
to ``backends/wavespeed/uploads/`` and drops the old hash memo. ``gc`` removes what no lock under the
project references and nobody touched for a grace period.
"""

from __future__ import annotations

import json
import os
import uuid
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from filelock import FileLock

from ..errors import StoryboardError
from ..fsutil import atomic_write_text, remove_stale_temps
from .clips import ClipStore
from .journal import Journal
from .memo import FileMemo

LAYOUT = 2
CACHE_ENV = "REELMAKE_CACHE_DIR"
GRACE = 7 * 24 * 3600.0  # seconds something unreferenced is kept before gc removes it
_SKIP_DIRS = {".git", ".reelmake", "out", "node_modules", ".venv", "venv", "__pycache__"}
_LOCK_HEADER = "# reelmake lock"


def default_root(project_root: Path, override: str | Path | None = None) -> Path:
    """Where a project's workspace lives: ``override``, else ``REELMAKE_CACHE_DIR``, else ``.reelmake/``."""
    if override:
        return Path(override)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(project_root) / ".reelmake"


class Workspace:
    """Hands out every part of ``.reelmake/``; nothing else lays out files there."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise StoryboardError(f"{self.root} is a file, but reelmake keeps its workspace (clips, journal) "
                                  "there; move the file away or pass --cache-dir")
        if self.root.is_dir():
            self._migrate()  # a new workspace is created by its first write, never by merely looking
        self.memo = FileMemo(self.root / "memo.json")
        self.clips = ClipStore(self.root / "clips", self.memo)
        self.journal = Journal(self.root / "journal.jsonl")

    @classmethod
    def for_project(cls, project_root: Path, override: str | Path | None = None) -> Workspace:
        return cls(default_root(project_root, override))

    # -- layout -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        marker = self.root / "layout.json"
        try:
            layout = json.loads(marker.read_text(encoding="utf-8")).get("layout")
        except FileNotFoundError:
            layout = 1 if any((self.root / old).exists() for old in ("hashes.json", "uploads", "clips")) else None
        except (OSError, ValueError, AttributeError):
            raise StoryboardError(f"{marker} is damaged; delete it (reelmake rewrites it) or restore it") from None
        if layout == LAYOUT:
            return
        if isinstance(layout, int) and layout > LAYOUT:
            raise StoryboardError(f"{self.root} was laid out by a newer reelmake (layout {layout}; this one reads "
                                  f"up to {LAYOUT}); upgrade reelmake or use another --cache-dir")
        if layout == 1:
            uploads = self.root / "uploads"
            if uploads.is_dir():
                target = self.root / "backends" / "wavespeed" / "uploads"
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    uploads.rename(target)
            (self.root / "hashes.json").unlink(missing_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, json.dumps({"layout": LAYOUT}) + "\n")

    def ensure(self) -> None:
        """Create the workspace (with its layout marker) before the first write into it."""
        if not (self.root / "layout.json").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._migrate()

    def key_lock(self, key: str) -> FileLock:
        """A cross-process lock for rendering ``key``."""
        self.ensure()
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        # Not thread-local: the orchestrator may take it on the event loop and wait for it in a thread.
        return FileLock(str(self.root / "locks" / f"{key}.lock"), thread_local=False)

    def identity(self) -> str:
        """This workspace's random id (``identity.json``): how claims in a shared remote tell an earlier
        run of this very workspace, whose journal knows its tasks, from another machine."""
        self.ensure()
        path = self.root / "identity.json"
        try:
            found = json.loads(path.read_text(encoding="utf-8")).get("id")
            if isinstance(found, str) and found:
                return found
        except (OSError, ValueError, AttributeError):
            pass
        new = uuid.uuid4().hex
        atomic_write_text(path, json.dumps({"id": new}) + "\n")
        return new

    def backend_dir(self, name: str) -> Path:
        self.ensure()
        path = self.root / "backends" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def edit_dir(self) -> Path:
        return self.root / "edit"

    @property
    def review_dir(self) -> Path:
        """The review page's posters (made from clips; gc removes old ones)."""
        return self.root / "review"

    def tmp_dir(self) -> Path:
        self.ensure()
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- garbage collection -------------------------------------------------------------------
    def gc(self, locks: Iterable[Path], *, grace: float = GRACE, dry_run: bool = False,
           now: float | None = None) -> GcReport:
        """Remove clips no lock references and older files nobody uses, each older than ``grace``.

        Never touches a render key with a task in flight. ``locks``: every lock file under the project
        (see :func:`project_locks`); a lock that cannot be read stops gc before anything is removed."""
        now = time.time() if now is None else now
        cutoff = now - grace
        report = GcReport(dry_run=dry_run)
        referenced = set()
        locks = list(locks)
        stale = datetime.fromtimestamp(cutoff, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        for lock in locks:
            referenced |= lock_keys(lock, history_before=stale)
        in_flight = set(self.journal.in_flight())
        for key in sorted(self.clips.keys()):
            meta, clip = self.clips.meta_path(key), self.clips.clip_path(key)
            if key in referenced or key in in_flight:
                report.kept += 1
                continue
            if _newest_mtime(meta, clip) > cutoff:
                report.young += 1
                continue
            report.add(f"clips/{key[:2]}/{key}", _size(meta) + _size(clip))
            if not dry_run:
                self.clips.remove(key)
        for path in self.clips.root.glob("*/*.damaged.*") if self.clips.root.is_dir() else ():
            if path.stem.split(".")[0] not in in_flight and _newest_mtime(path) <= cutoff:
                report.add(str(path.relative_to(self.root)), _size(path))
                if not dry_run:
                    path.unlink(missing_ok=True)
        for folder in ("edit", "tmp", "review"):
            for path in _files(self.root / folder):
                if _newest_mtime(path) <= cutoff:
                    report.add(str(path.relative_to(self.root)), _size(path))
                    if not dry_run:
                        path.unlink(missing_ok=True)
        for path in _files(self.root / "backends"):
            if path.suffix == ".json" and _expired(path, now):
                report.add(str(path.relative_to(self.root)), _size(path))
                if not dry_run:
                    path.unlink(missing_ok=True)
        if not dry_run:
            from .lock import LockFile

            for lock in locks:  # earlier takes stay in a lock's history until gc: drop the stale ones
                report.history_entries += len(LockFile(lock).prune_history(stale))
            report.memo_entries = self.memo.forget_missing()
            self.memo.save()
            report.journal_lines = self.journal.compact(cutoff)
            for folder in ("edit", "tmp", "review", "locks"):
                _prune_empty(self.root / folder)
        return report

    def clean_tmp(self, older_than: float = 24 * 3600.0) -> None:
        """Remove temporary files a killed run left behind (each run does this when it starts): half
        written files whose writer is gone, and anything in tmp/ nobody touched for a day."""
        if not self.root.is_dir():
            return
        remove_stale_temps(self.root, recursive=True)
        cutoff = time.time() - older_than
        for path in _files(self.root / "tmp"):
            if _newest_mtime(path) <= cutoff:
                path.unlink(missing_ok=True)


@dataclass
class GcReport:
    dry_run: bool
    removed: list[tuple[str, int]] = field(default_factory=list)  # (path in the workspace, bytes)
    kept: int = 0  # clips a lock references (or in flight)
    young: int = 0  # unreferenced clips still inside the grace period
    memo_entries: int = 0
    journal_lines: int = 0
    history_entries: int = 0  # lock history entries (renders superseded before the grace period) dropped

    def add(self, path: str, size: int) -> None:
        self.removed.append((path, size))

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.removed)


def project_locks(project_root: Path) -> list[Path]:
    """Every reelmake lock file under the project (git-ignored build folders skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(project_root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for name in filenames:
            if name.endswith(".lock"):
                path = Path(dirpath) / name
                if _is_reelmake_lock(path):
                    out.append(path)
    return sorted(out)


def _is_reelmake_lock(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_LOCK_HEADER) + 64)
    except OSError:
        return False
    return head.startswith(_LOCK_HEADER.encode()) or head.startswith(b"reelmake:")


def lock_keys(path: Path, history_before: str | None = None) -> set[str]:
    """The render keys a lock file references: its entries, its decisions and its history, less the
    history entries superseded before ``history_before`` (an ISO time), which gc drops."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise StoryboardError(f"{path}: cannot read this lock ({exc}); gc stops so no clip it references is "
                              "removed. Restore it from git or delete it, then run gc again") from None
    keys: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            key = node.get("key")
            if isinstance(key, str):
                keys.add(key)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    if isinstance(data, dict) and history_before is not None and isinstance(data.get("history"), dict):
        data = {**data, "history": {
            backend: {job: [e for e in entries if not (isinstance(e, dict)
                                                       and str(e.get("superseded_at", "")) < history_before)]
                      for job, entries in jobs.items() if isinstance(entries, list)}
            for backend, jobs in data["history"].items() if isinstance(jobs, dict)}}
    collect(data)
    return keys


def _files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield path


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _newest_mtime(*paths: Path) -> float:
    stamps = []
    for path in paths:
        try:
            stamps.append(path.stat().st_mtime)
        except OSError:
            continue
    return max(stamps, default=0.0)


def _expired(path: Path, now: float) -> bool:
    """An upload record (``{"expires_at": …}``) whose URL the provider has deleted by now."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("expires_at"), (int, float)) and data["expires_at"] < now


def _prune_empty(folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir():
            try:
                path.rmdir()
            except OSError:
                continue


__all__ = ["CACHE_ENV", "GRACE", "GcReport", "Workspace", "default_root", "lock_keys", "project_locks"]
