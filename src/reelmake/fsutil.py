"""Atomic file writes and content hashing: the only way reelmake puts bytes on disk."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20
TEMP_MARK = "pid"
_TEMP_NAME = re.compile(rf"^\..+\.{TEMP_MARK}(\d+)\.[^.]+")


def project_root(path: Path) -> Path:
    """The git work tree containing ``path``, else its directory: nothing reelmake reads may leave it.

    The file itself is not resolved: a storyboard that is a link to a file elsewhere does not move the
    project there."""
    start = Path(path).absolute().parent.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def display_name(path: Path) -> str:
    """The path as users typed it relative to the current directory, when possible."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(dest: Path, suffix: str = "", *, sync_dir: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it is fsynced and renamed over ``dest``.

    Readers never see a half-written file: either the old content or the new one.
    On failure the temporary file is removed and ``dest`` is untouched. ``sync_dir=False`` leaves
    the directory fsync to a later write in the same directory (one fsync covers both renames).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the name, so a later run can tell a killed writer's leftovers from a live one's.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.{TEMP_MARK}{os.getpid()}.", suffix=suffix or ".tmp",
                                    dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; outputs are ordinary files, so honour the umask like open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
        if sync_dir:
            _fsync_dir(dest.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def scratch_dir(parent: Path, what: str) -> Iterator[Path]:
    """A private directory in ``parent`` for one piece of work, removed afterwards; its name carries the
    pid, so :func:`remove_stale_temps` removes what a killed run left (a cut's mix can be gigabytes)."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{what}.{TEMP_MARK}{os.getpid()}.", suffix=".d", dir=parent) as tmp:
        yield Path(tmp)


def atomic_write_bytes(dest: Path, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: Path, text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temps(directory: Path, *, recursive: bool = False) -> int:
    """Delete the temporary files :func:`atomic_path` and the directories :func:`scratch_dir` left
    behind in ``directory`` when their writer was killed (its pid no longer runs on this machine);
    the number removed."""
    if not Path(directory).is_dir():
        return 0
    removed = 0
    for path in sorted(Path(directory).rglob(".*") if recursive else Path(directory).glob(".*")):
        match = _TEMP_NAME.match(path.name)
        if not match or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
    return removed
