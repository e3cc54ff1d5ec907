"""The content-addressed clip cache: clips stored by render key, with their metadata.

Layout under the cache root (default `.reelmake/` at the project root):
  clips/<k[:2]>/<key>.mp4     the clip
  clips/<k[:2]>/<key>.json    its metadata (written last: an entry exists once its JSON does)
  hashes.json                 memo of file content hashes by (path, size, mtime_ns, inode)
  locks/                      per-key file locks, so two processes never render one key at once
Writes are atomic; a truncated or altered clip is detected and treated as missing.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from .fsutil import atomic_path, atomic_write_text, sha256_file

CACHE_ENV = "REELMAKE_CACHE_DIR"


def default_cache_dir(project_root: Path) -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else project_root / ".reelmake"


@dataclass(frozen=True)
class Entry:
    key: str
    clip: Path
    meta: dict[str, Any]

    @property
    def sha256(self) -> str:
        return self.meta["sha256"]


class HashMemo:
    """sha256 of files, memoised by (size, mtime_ns, inode) so reruns do not re-read gigabytes,
    while any content change (which changes size or mtime) is still seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._dirty = False
        try:
            self._memo: dict[str, list] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._memo = {}

    def __call__(self, file: Path) -> str:
        stat = file.stat()
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        name = str(file)
        with self._lock:
            known = self._memo.get(name)
            if known and known[:3] == stamp:
                return known[3]
        digest = sha256_file(file)
        with self._lock:
            self._memo[name] = [*stamp, digest]
            self._dirty = True
        return digest

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            atomic_write_text(self.path, json.dumps(self._memo, separators=(",", ":")))
            self._dirty = False


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hashes = HashMemo(self.root / "hashes.json")
        self._verified: dict[str, tuple] = {}

    # -- paths
    def _base(self, key: str) -> Path:
        return self.root / "clips" / key[:2] / key

    def clip_path(self, key: str) -> Path:
        return self._base(key).with_suffix(".mp4")

    def meta_path(self, key: str) -> Path:
        return self._base(key).with_suffix(".json")

    def lock(self, key: str) -> FileLock:
        """A cross-process lock for rendering ``key``."""
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        # Not thread-local: the orchestrator may take it on the event loop and wait for it in a thread.
        return FileLock(str(self.root / "locks" / f"{key}.lock"), thread_local=False)

    def tmp_dir(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- reading
    def get(self, key: str, *, verify: bool = False) -> Entry | None:
        """The entry for ``key`` if its clip is intact: size always checked, full hash when ``verify``."""
        try:
            meta = json.loads(self.meta_path(key).read_text())
            stat = self.clip_path(key).stat()
        except (OSError, ValueError):
            return None
        if stat.st_size != meta.get("size_bytes"):
            return None
        if verify:
            stamp = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            if self._verified.get(key) != stamp:
                if sha256_file(self.clip_path(key)) != meta.get("sha256"):
                    return None
                self._verified[key] = stamp
        return Entry(key, self.clip_path(key), meta)

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    # -- writing
    def put(self, key: str, clip: Path, meta: dict[str, Any]) -> Entry:
        """Move ``clip`` into the cache under ``key`` with ``meta`` (sha256 and size are added)."""
        digest = sha256_file(clip)
        meta = {**meta, "key": key, "sha256": digest, "size_bytes": clip.stat().st_size}
        dest = self.clip_path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest, suffix=".mp4", sync_dir=False) as tmp:  # the metadata write syncs the dir
            shutil.move(str(clip), tmp)
        atomic_write_text(self.meta_path(key), json.dumps(meta, indent=2, sort_keys=True, default=str))
        return Entry(key, dest, meta)
