"""`reelmake review --export DIR`: the contact sheet as static files to send to a client.

``DIR/index.html`` (stylesheet, script and board inlined) with every path relative and inside DIR:
``clips/<shot>-take<k>.mp4``, ``posters/<shot>-take<k>.jpg``, ``cuts/<deliverable>.mp4`` and ``.jpg``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import ReelmakeError
from ..fsutil import atomic_path, atomic_write_text
from . import board as boards
from .page import render_page


def _slug(name: str) -> str:
    """A decision name (``shot`` or ``variant/shot``) as one file name."""
    return name.replace("/", "--")


def _cut_name(variant: str, name: str) -> str:
    return f"{variant}--{name}" if variant else name


def _copy(source: Path, target: Path) -> None:
    if target.is_file() and target.stat().st_size == source.stat().st_size and \
            target.stat().st_mtime_ns >= source.stat().st_mtime_ns:
        return  # exported before and unchanged since
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target, suffix=target.suffix) as tmp:
        shutil.copyfile(source, tmp)


def export(project: Any, directory: Path) -> Path:
    """Write the static contact sheet of ``project`` into ``directory``; the path of its index.html."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ReelmakeError(f"{directory} is a file; --export needs a folder")
    links = boards.Links(
        clip=lambda name, shot, take, key: f"clips/{_slug(name)}-take{take}.mp4",
        poster=lambda name, shot, take, key: f"posters/{_slug(name)}-take{take}.jpg",
        cut=lambda variant, name, suffix: f"cuts/{_cut_name(variant, name)}{suffix}",
    )
    data = boards.board(project, links)
    store = project.workspace.clips
    for shot in data["shots"]:
        for take in shot["takes"]:
            if not take["clip"]:
                continue
            entry = store.get(take["key"], verify=True)
            if entry is None:  # gone or damaged since the board was read: show it as missing
                take.update(clip=None, poster=None, status="missing")
                continue
            _copy(entry.clip, directory / take["clip"])
            poster = boards.poster(project, take["key"])
            if poster is not None:
                _copy(poster, directory / take["poster"])
            else:
                take["poster"] = None
    for cut in data["cuts"]:
        for field, suffix in (("video", ".mp4"), ("poster", ".jpg")):
            source = boards.cut_file(project, cut["variant"], cut["name"], suffix)
            if source is not None and cut[field]:
                _copy(source, directory / cut[field])
    for item in data["shots"]:
        for take in item["takes"]:
            take.pop("key", None)  # render keys mean nothing to a client
    index = directory / "index.html"
    atomic_write_text(index, render_page(data, static=True))
    return index
