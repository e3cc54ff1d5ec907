"""The one step of loading with effects: what is on disk behind each file a storyboard declares.

For every local source: does it resolve inside the project root, is it a regular file we can read,
what media does it hold (ffprobe, its format pinned by extension), and, when planning, its content
hash. Results come from the workspace's :class:`FileMemo` when the file has not changed. The core's
``references.check`` then judges these facts without touching the disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..core.model import Storyboard
from ..core.references import FileFacts, Source, local_sources
from .memo import FileMemo


def _locate(directory: Path, root: Path, source: Source) -> tuple[Path | None, str | None, int]:
    """(resolved path, problem, size) for one local source."""
    path = directory / source.source
    try:
        resolved = path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        return None, f"{source.source!r} cannot be resolved ({getattr(exc, 'strerror', None) or exc})", 0
    if not resolved.is_relative_to(root.resolve()):
        return None, f"{source.source!r} resolves outside the project root {root}", 0
    try:
        stat = resolved.stat()
    except FileNotFoundError:
        return None, f"{source.source!r} does not exist (looked for {resolved})", 0
    except OSError as exc:
        return None, f"{source.source!r} cannot be read ({exc.strerror or exc})", 0
    import stat as st

    if not st.S_ISREG(stat.st_mode):
        return None, f"{source.source!r} is not a regular file", 0
    if not os.access(resolved, os.R_OK):
        return None, f"{source.source!r} is not readable", 0
    return resolved, None, stat.st_size


def inspect(storyboards: Iterable[Storyboard], memo: FileMemo, *, probe_media: bool = True,
            hash_files: bool = False) -> dict[str, FileFacts]:
    """Facts about every local source of ``storyboards`` (which share one directory: a file and its
    campaign variants), each distinct source looked at once."""
    facts: dict[str, FileFacts] = {}
    for sb in storyboards:
        for source in local_sources(sb):
            if source.source in facts:
                continue
            resolved, problem, size = _locate(sb.directory, sb.root, source)
            if resolved is None:
                facts[source.source] = FileFacts(source.source, problem=problem)
                continue
            media = media_error = digest = None
            try:
                if probe_media:
                    media, media_error = memo.probe(resolved, source.kind)
                if hash_files:
                    digest = memo.sha256(resolved)
            except OSError as exc:
                facts[source.source] = FileFacts(source.source, problem=f"{source.source!r} cannot be read "
                                                                       f"({exc.strerror or exc})")
                continue
            facts[source.source] = FileFacts(source.source, resolved, None, size, digest, media, media_error)
    return facts
