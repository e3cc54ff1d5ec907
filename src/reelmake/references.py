"""Reference files: each exists, stays inside the project root, and fits the model's limits.

This is the one part of validation with effects (stat, ffprobe); each distinct file is probed once.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .catalog import Model, get_model
from .compile import is_url, reference_names
from .errors import MediaError, Problem
from .media import MediaInfo, probe
from .model import Storyboard
from .yamlpos import format_path


def _sources(sb: Storyboard) -> list[tuple[tuple, str, str, str]]:
    """(data path, source, kind, owner name) for every file the storyboard declares."""
    out = []
    for name, character in sb.characters.items():
        out += [(("characters", name, "images", i), src, "image", name) for i, src in enumerate(character.images)]
    for name, asset in sb.assets.items():
        out.append((("assets", name, asset.kind), asset.source, asset.kind, name))
    return out


def _location_problem(sb: Storyboard, source: str, kind: str) -> str | None:
    if is_url(source):
        if kind == "audio":
            return "audio assets must be local files"
        if not source.startswith("https://"):
            return f"{source!r}: only https:// URLs are allowed"
        return None
    if PurePosixPath(source).is_absolute() or Path(source).is_absolute():
        return f"{source!r} is an absolute path; write it relative to the storyboard"
    path = sb.directory / source
    resolved = path.resolve()
    if not resolved.is_relative_to(sb.root.resolve()):
        return f"{source!r} resolves outside the project root {sb.root}"
    if not path.exists():
        return f"{source!r} does not exist (looked for {resolved})"
    if not resolved.is_file():
        return f"{source!r} is not a regular file"
    return None


def _image_limits(info: MediaInfo, model: Model) -> list[str]:
    limits = model.limit("reference_images", default={}) or {}
    out = []
    formats = limits.get("formats")
    if formats and info.video_codec not in formats:
        out.append(f"is {info.video_codec or 'not an image'}; {model.id} takes jpg or png")
    if limits.get("max_bytes") and info.size_bytes > limits["max_bytes"]:
        out.append(f"is {info.size_bytes / 1e6:.1f} MB; {model.id} takes at most {limits['max_bytes'] / 1048576:.0f} MB")
    if info.width and info.height:
        if limits.get("min_side") and min(info.width, info.height) < limits["min_side"]:
            out.append(f"is {info.width}x{info.height}; {model.id} needs at least {limits['min_side']} px on the "
                       "shortest side")
        ratio = info.width / info.height
        if limits.get("min_aspect") and not limits["min_aspect"] <= ratio <= limits.get("max_aspect", 1e9):
            out.append(f"has aspect {ratio:.2f}; {model.id} takes between 1:2.5 and 2.5:1")
    return out


def _video_limits(info: MediaInfo, model: Model) -> list[str]:
    limits = model.limit("reference_video", default={}) or {}
    out = []
    formats = limits.get("formats")
    if formats and not any(f in info.format_name.split(",") for f in formats):
        out.append(f"is {info.format_name}; {model.id} takes {' or '.join(formats)}")
    if not info.has_video:
        out.append("has no video stream")
    lo, hi = limits.get("min_duration"), limits.get("max_duration")
    if lo is not None and not lo <= info.duration <= hi:
        out.append(f"lasts {info.duration:.2f} s; {model.id} takes {lo}-{hi} s")
    if info.width and info.height and limits.get("min_side"):
        short, long = sorted((info.width, info.height))
        if short < limits["min_side"] or long > limits.get("max_side", 1e9):
            out.append(f"is {info.width}x{info.height}; {model.id} takes {limits['min_side']}-{limits['max_side']} px")
    if limits.get("max_bytes") and info.size_bytes > limits["max_bytes"]:
        out.append(f"is {info.size_bytes / 1e6:.0f} MB; {model.id} takes at most {limits['max_bytes'] / 1048576:.0f} MB")
    return out


def check(sb: Storyboard, filename: str, *, probe_media: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    usable: dict[str, tuple] = {}  # source -> data path, for media checks

    def add(path: tuple, message: str) -> None:
        line, column = sb.positions.of(path)
        problems.append(Problem(filename, line, column, format_path(path), message))

    for path, source, kind, _owner in _sources(sb):
        problem = _location_problem(sb, source, kind)
        if problem:
            add(path, problem)
        elif not is_url(source):
            usable.setdefault(source, path)
    if not probe_media:
        return problems

    probed: dict[str, MediaInfo | None] = {}

    def info_for(source: str) -> MediaInfo | None:
        if source not in probed:
            try:
                probed[source] = probe(sb.directory / source)
            except MediaError as exc:
                probed[source] = None
                add(usable[source], str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc))
        return probed[source]

    reported: set[tuple[str, str]] = set()
    for shot in sb.shots:
        model = get_model(shot.model)
        if model is None:
            continue
        checks = [(src, _image_limits) for _, sources in reference_names(sb, shot) for src in sources]
        if shot.video and shot.video in sb.assets:
            checks.append((sb.assets[shot.video].source, _video_limits))
        for source, limits in checks:
            if source not in usable or (source, model.id) in reported:
                continue
            reported.add((source, model.id))
            info = info_for(source)
            for message in limits(info, model) if info else []:
                add(usable[source], f"{source!r} {message} (used by shot {shot.id!r})")
    for item in sb.soundtrack:
        asset = sb.assets.get(item.asset)
        if asset and asset.kind == "audio" and asset.source in usable:
            info = info_for(asset.source)
            if info and not info.has_audio:
                add(usable[asset.source], f"{asset.source!r} has no audio stream")
    return problems
