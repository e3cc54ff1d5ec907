"""The content-addressed clip store: clips stored by render key, with their metadata.

  clips/<k[:2]>/<key>.mp4          the clip (.png or .jpg for a generated image or an extracted frame:
                                   the metadata's ``suffix`` says which)
  clips/<k[:2]>/<key>.json         its metadata (written last: an entry exists once its JSON does)
  clips/<k[:2]>/<key>.damaged.*    an entry whose clip no longer matches its hash, set aside

Writes are atomic. A truncated or altered clip is detected (its size on every look, its hash when
verified, remembered in the file memo by stamp so verifying a thousand unchanged clips reads none of
them) and set aside: it is never cut into a video, and its provider task id stays known so a paid
clip can be downloaded again instead of paid for again.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fsutil import atomic_path, atomic_write_text, sha256_file
from .memo import FileMemo


@dataclass(frozen=True)
class Entry:
    key: str
    clip: Path
    meta: dict[str, Any]

    @property
    def sha256(self) -> str:
        return self.meta["sha256"]


SUFFIXES = (".mp4", ".png", ".jpg", ".webp")  # what an entry's file may be


def _suffix(meta: Any) -> str:
    suffix = meta.get("suffix") if isinstance(meta, dict) else None
    return suffix if suffix in SUFFIXES else ".mp4"


class ClipStore:
    def __init__(self, root: Path, memo: FileMemo | None = None) -> None:
        self.root = Path(root)
        self.memo = memo

    def _base(self, key: str) -> Path:
        return self.root / key[:2] / key

    def clip_path(self, key: str, suffix: str | None = None) -> Path:
        """The entry's file: an mp4, or the image its metadata names (read when ``suffix`` is not given)."""
        if suffix is None:
            try:
                suffix = _suffix(json.loads(self.meta_path(key).read_text(encoding="utf-8")))
            except (OSError, ValueError):
                suffix = ".mp4"
        return self._base(key).with_suffix(suffix)

    def meta_path(self, key: str) -> Path:
        return self._base(key).with_suffix(".json")

    # -- reading
    def get(self, key: str, *, verify: bool = False) -> Entry | None:
        """The entry for ``key`` if its clip is intact: size always checked, full hash when ``verify``."""
        try:
            meta = json.loads(self.meta_path(key).read_text(encoding="utf-8"))
            clip = self.clip_path(key, _suffix(meta))
            stat = clip.stat()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
            return None  # damaged metadata: the clip is as good as missing
        intact = stat.st_size == meta.get("size_bytes")
        if intact and verify:
            try:
                intact = (self.memo.sha256(clip) if self.memo else sha256_file(clip)) == meta["sha256"]
            except OSError:
                intact = False
        if not intact:
            self._set_aside(key)
            return None
        return Entry(key, clip, meta)

    def _set_aside(self, key: str) -> None:
        """Move a damaged entry out of the way (keeping its metadata: the task id can fetch it again)."""
        for path in (self.clip_path(key), self.meta_path(key)):  # the file first: its suffix is in the metadata
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(f".damaged{path.suffix}"))

    def forget_damaged(self, key: str) -> None:
        base = self._base(key)
        for suffix in (".json", *SUFFIXES):
            base.with_suffix(f".damaged{suffix}").unlink(missing_ok=True)

    def damaged(self, key: str) -> dict[str, Any] | None:
        """The metadata of an entry set aside as damaged (its ``task_id`` may still be downloadable)."""
        try:
            meta = json.loads(self.meta_path(key).with_suffix(".damaged.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def set_damaged(self, key: str, meta: dict[str, Any]) -> None:
        """Remember the metadata of a damaged copy found elsewhere (a shared remote store), so its task id
        can fetch the clip again, as for a damaged local entry."""
        dest = self.meta_path(key).with_suffix(".damaged.json")
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(dest, json.dumps(meta, indent=2, sort_keys=True, default=str))

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def keys(self) -> Iterator[str]:
        """Every key with metadata in the store (for ``gc``)."""
        if not self.root.is_dir():
            return
        for meta in self.root.glob("*/*.json"):
            if "." not in meta.stem:  # not a damaged entry set aside
                yield meta.stem

    # -- writing
    def put(self, key: str, clip: Path, meta: dict[str, Any]) -> Entry:
        """Move ``clip`` into the store under ``key`` with ``meta`` (sha256 and size are added). An image
        (its name ends in .png, .jpg or .webp) is kept under that suffix, recorded in the metadata."""
        digest = sha256_file(clip)
        suffix = Path(clip).suffix.lower() if Path(clip).suffix.lower() in SUFFIXES else ".mp4"
        meta = {**meta, "key": key, "sha256": digest, "size_bytes": clip.stat().st_size}
        if suffix != ".mp4":
            meta["suffix"] = suffix
        dest = self.clip_path(key, suffix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest, suffix=suffix, sync_dir=False) as tmp:  # the metadata write syncs the dir
            shutil.move(str(clip), tmp)
        atomic_write_text(self.meta_path(key), json.dumps(meta, indent=2, sort_keys=True, default=str))
        if self.memo is not None:
            self.memo.remember(dest, digest)
        self.forget_damaged(key)
        return Entry(key, dest, meta)

    def remove(self, key: str) -> int:
        """Delete an entry (metadata first, so it never looks intact half-deleted); bytes freed."""
        freed = 0
        for path in (self.meta_path(key), *(self._base(key).with_suffix(s) for s in SUFFIXES)):
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
        return freed
