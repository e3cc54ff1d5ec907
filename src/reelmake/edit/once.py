"""Intermediates made once per content key, however many cuts want them at the same time.

The editor's pieces are named by what decides their bytes, so a piece that exists is reused. Cuts
that run at once (threads of one cut, deliverables cut in parallel, Ray workers on machines that
mount the same work dir) could still all miss and encode the same piece side by side. A file lock
per piece makes the later ones wait for the first and reuse its result instead.

The locks are ``flock`` locks (via filelock), which Linux also takes on NFS (as byte-range locks the
server arbitrates, so machines exclude each other); on a filesystem without ``flock`` filelock falls
back to the lock file's existence, which works across machines too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from ..fsutil import atomic_path


def make_once(dest: Path, make: Callable[[Path], None], locks: Path) -> bool:
    """Ensure ``dest`` exists, writing it with ``make(tmp)`` (atomically) unless it is there already
    or another process makes it meanwhile; the lock files go in ``locks``. True when it was made by
    this call."""
    if dest.exists():
        os.utime(dest)  # still in use: `reelmake gc` keeps what was touched within its grace period
        return False
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{dest.parent.name}-{dest.name}.lock")):
        if dest.exists():  # made by whoever held the lock before us
            os.utime(dest)
            return False
        with atomic_path(dest, suffix=dest.suffix) as tmp:
            make(tmp)
    return True


__all__ = ["make_once"]
