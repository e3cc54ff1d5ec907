"""What reelmake already knows about files on disk: content hashes and ffprobe results, remembered by
(path, size, mtime, inode) so a rerun neither rereads gigabytes nor probes again, while any change to
a file (which changes its size or mtime) is still seen. One JSON file in the workspace; losing it
costs time, never correctness.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_text, sha256_file
from ..media import MediaInfo, probe

_VERSION = 1
log = logging.getLogger("reelmake")


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _info_json(info: MediaInfo) -> dict[str, Any]:
    data = asdict(info)
    data["path"] = str(info.path)
    data["fps"] = str(info.fps) if info.fps is not None else None
    return data


def _info(data: dict[str, Any]) -> MediaInfo:
    values = dict(data)
    values["path"] = Path(values["path"])
    values["fps"] = Fraction(values["fps"]) if values.get("fps") else None
    return MediaInfo(**values)


class FileMemo:
    """sha256 and probe results per file path, valid while the file's stamp is unchanged.

    Thread-safe; ``save`` writes only when something was learnt. Probe failures are remembered too
    (a broken file stays broken until it changes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._dirty = False
        self._entries: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and data.get("version") == _VERSION and isinstance(data.get("files"), dict):
            self._entries = {k: v for k, v in data["files"].items() if isinstance(v, dict)}

    def _entry(self, path: Path) -> tuple[str, list[int], dict[str, Any]]:
        name = str(path)
        stamp = _stamp(path)
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry.get("stamp") != stamp:
                entry = {"stamp": stamp}
        return name, stamp, entry

    def _learn(self, name: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries[name] = entry
            self._dirty = True

    def sha256(self, path: Path) -> str:
        """The content hash of ``path`` (OSError when it cannot be read)."""
        name, _, entry = self._entry(path)
        if "sha256" not in entry:
            entry = {**entry, "sha256": sha256_file(path)}
            self._learn(name, entry)
        return entry["sha256"]

    __call__ = sha256

    def remember(self, path: Path, sha256: str) -> None:
        """Record a hash reelmake computed while writing ``path`` (so it is never read back to hash it)."""
        name, stamp, _ = self._entry(path)
        self._learn(name, {"stamp": stamp, "sha256": sha256})

    def probe(self, path: Path, kind: str | None = None) -> tuple[MediaInfo | None, str | None]:
        """(what ffprobe says about ``path`` read as ``kind``, None) or (None, why it is not media)."""
        from ..errors import MediaError

        name, _, entry = self._entry(path)
        slot = f"probe:{kind or ''}"
        if slot not in entry:
            try:
                found: dict[str, Any] = {"info": _info_json(probe(path, kind))}
            except MediaError as exc:
                found = {"error": str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)}
            entry = {**entry, slot: found}
            self._learn(name, entry)
        result = entry[slot]
        if "info" in result:
            try:
                return _info(result["info"]), None
            except (TypeError, ValueError, KeyError):
                pass  # an older or damaged entry: probe again next time
        return None, result.get("error", "could not be probed")

    def forget_missing(self) -> int:
        """Drop entries of files that no longer exist; the number dropped (for ``gc``)."""
        with self._lock:
            gone = [name for name in self._entries if not Path(name).exists()]
            for name in gone:
                del self._entries[name]
            self._dirty = self._dirty or bool(gone)
        return len(gone)

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            body = json.dumps({"version": _VERSION, "files": self._entries}, separators=(",", ":"))
            self._dirty = False
        try:
            atomic_write_text(self.path, body)
        except OSError as exc:  # a cache: losing it costs time on the next run, nothing else
            log.warning("could not save %s (%s); it will be rebuilt", self.path, exc.strerror or exc)
