"""Reference files: which ones a storyboard declares, and whether what inspection found about them
is acceptable (inside the project, the right kind of media, within the model's limits). Pure: the
facts come from the engine's inspection step (stat, resolve, ffprobe, hashing) and arrive as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..catalog import Model, get_model
from ..errors import Problem
from ..media import MediaInfo, demuxer_for
from .compile import image_reference_names, is_url, reference_names
from .model import Storyboard
from .yamlpos import format_path


@dataclass(frozen=True)
class Source:
    """One file a storyboard declares: where in the document, what it should be, who owns it."""

    path: tuple  # data path in the document, for the error location
    source: str  # as written: relative path or URL
    kind: str  # "image" | "video" | "audio"
    owner: str  # character or asset name


@dataclass(frozen=True)
class FileFacts:
    """What inspection found about one local source (keyed by the source as written).

    ``problem`` is set when the file cannot be used at all (missing, outside the project, not a regular
    file, unreadable); ``media`` when it was probed; ``media_error`` when probing failed; ``sha256`` when
    it was hashed (planning needs it, validation does not).
    """

    source: str
    resolved: Path | None = None
    problem: str | None = None
    size: int = 0
    sha256: str | None = None
    media: MediaInfo | None = None
    media_error: str | None = None


def sources(sb: Storyboard) -> list[Source]:
    """Every file the storyboard declares, in document order."""
    out = []
    for name, character in sb.characters.items():
        out += [Source(("characters", name, "images", i), src, "image", name) for i, src in enumerate(character.images)]
    for name, asset in sb.assets.items():
        if asset.generate is None:  # a generated image has no file until it is rendered
            out.append(Source(("assets", name, asset.kind), asset.source, asset.kind, name))
    return out


def written_problem(source: Source) -> str | None:
    """What is wrong with a source as written, before anything is looked up on disk."""
    text = source.source
    if "\x00" in text:
        return "a path cannot contain a NUL character"
    if is_url(text):
        if source.kind == "audio":
            return "audio assets must be local files"
        parts = urlsplit(text)
        if parts.scheme != "https" or not parts.hostname:
            return f"{text!r}: only https:// URLs with a host are allowed"
        return None
    if PurePosixPath(text).is_absolute() or Path(text).is_absolute() or text.startswith("~"):
        return f"{text!r} is an absolute path; write it relative to the storyboard"
    if demuxer_for(Path(text), source.kind) is None:
        return f"{text!r}: reelmake does not read {source.kind} files of this type (by its extension)"
    return None


def local_sources(sb: Storyboard) -> list[Source]:
    """The sources that inspection should look at: local files written acceptably."""
    return [s for s in sources(sb) if not is_url(s.source) and written_problem(s) is None]


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


def _kind_problem(info: MediaInfo, kind: str) -> str | None:
    """A file whose content is not the kind of media its declaration says."""
    if kind in ("image", "video") and not (info.has_video and info.width and info.height):
        return f"is not {'an image' if kind == 'image' else 'a video'} reelmake can read (no picture in it)"
    if kind == "audio" and not info.has_audio:
        return "has no audio stream"
    return None


def check(sb: Storyboard, facts: dict[str, FileFacts], filename: str, *,
          limits_seen: set[tuple[str, str]] | None = None) -> list[Problem]:
    """Problems with the storyboard's files, given what inspection found (``facts`` by source).

    Media limits are checked once per (file, model): pass one ``limits_seen`` set to every variant of a
    campaign so a file too small for a model is reported once, not once per variant."""
    problems: list[Problem] = []

    def add(path: tuple, message: str) -> None:
        line, column = sb.positions.of(path)
        problems.append(Problem(filename, line, column, format_path(path), message))

    usable: dict[str, Source] = {}
    for source in sources(sb):
        problem = written_problem(source)
        found = facts.get(source.source)
        if problem is None and found is not None:
            problem = found.problem or found.media_error
            if problem is None and found.media is not None:
                problem = _kind_problem(found.media, source.kind)
        if problem:
            add(source.path, problem)
        elif not is_url(source.source):
            usable.setdefault(source.source, source)

    def info_for(text: str) -> MediaInfo | None:
        found = facts.get(text)
        return found.media if found is not None and text in usable else None

    reported = limits_seen if limits_seen is not None else set()
    users = [(f"shot {shot.id!r}", shot.model, shot.backend, reference_names(sb, shot),
              sb.assets[shot.video].source if shot.video and shot.video in sb.assets else None) for shot in sb.shots]
    users += [(f"generated image {made.node}", made.model, made.backend, image_reference_names(sb, made), None)
              for made in sb.generated.values()]
    for user, model_id, host, named, video in users:
        model = get_model(model_id, host)
        if model is None:
            continue
        checks = [(src, _image_limits) for _, group in named for src in group]
        if video is not None:
            checks.append((video, _video_limits))
        for text, limits in checks:
            info = info_for(text)
            offer = f"{model.id}@{model.backend}"  # hosts may take different files
            if info is None or (text, offer) in reported:
                continue
            reported.add((text, offer))
            for message in limits(info, model):
                add(usable[text].path, f"{text!r} {message} (used by {user})")
    return problems
