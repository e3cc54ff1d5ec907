"""Where an exported timeline finds its media: copied beside it, linked beside it, or in the cache.

``copy`` makes the export folder self-contained (hand it over; the NLE relinks by file name if it
moves); ``link`` puts symlinks there (cheap, same names, valid while the cache holds the clips);
``cache`` points straight at the content-addressed cache (no files beside the export).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from ..fsutil import atomic_path, sha256_file
from ..media import probe
from .build import Media

MODES = ("copy", "link", "cache")


def place(source: Path, folder: Path, stem: str, mode: str, sha256: str | None = None) -> Path:
    """The path the export points at for ``source``: ``folder/stem<suffix>`` (copy, link) or the
    source itself (cache). Idempotent: an up-to-date copy or link is left as it is."""
    source = Path(source).resolve()
    if mode == "cache":
        return source
    dest = (folder / f"{stem}{source.suffix}").absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        if dest.is_symlink() and Path(os.readlink(dest)) == source:
            return dest
        temp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.link")  # unique: exports may run at once
        temp.symlink_to(source)
        os.replace(temp, dest)  # a rename: the old file or link is replaced, never half there
        return dest
    if not dest.is_symlink() and dest.is_file() and dest.stat().st_size == source.stat().st_size \
            and sha256_file(dest) == (sha256 or sha256_file(source)):
        return dest
    with atomic_path(dest, suffix=source.suffix) as tmp:
        shutil.copyfile(source, tmp)
    return dest


def describe(path: Path, kind: str) -> Media:
    """Probe ``path`` (the file as placed: a link is followed) for the timeline."""
    info = probe(Path(path).resolve(), kind)
    return Media(url=Path(path).absolute().as_uri(), duration=info.duration, has_audio=info.has_audio,
                 width=info.width, height=info.height)
