"""Semantic rules a JSON Schema cannot express (SPEC §2). Pure: reads the Storyboard only."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from ..catalog import Model, get_model, hosts_for, models_for
from ..errors import BackendUnavailable, Problem
from ..plugins import get_plugin, known_backends
from . import graph_rules
from .compile import compiled_prompts, is_url, reference_names
from .mentions import find_mentions
from .model import RATIOS, Shot, Storyboard
from .yamlpos import format_path

_EPS = 1e-9
MAX_SIDE = 8192  # the largest side H.264 (level 6.2) and x264 encode


class _Report:
    def __init__(self, storyboard: Storyboard, filename: str) -> None:
        self.sb, self.filename, self.problems = storyboard, filename, []

    def add(self, path: tuple, message: str, *, warning: bool = False, key: bool = False) -> None:
        line, column = self.sb.positions.of(path, key=key)
        self.problems.append(Problem(self.filename, line, column, format_path(path), message,
                                     "warning" if warning else "error"))


def check(storyboard: Storyboard, filename: str) -> list[Problem]:
    report = _Report(storyboard, filename)
    _check_ids(report)
    for shot in storyboard.shots:
        _check_mentions(report, shot)
        _check_model(report, shot)
        _check_multi_prompt(report, shot)
        _check_edit_fields(report, shot)
    graph_rules.check(report)
    _check_soundtrack(report)
    _check_deliverables(report)
    _check_backend_settings(report)
    return report.problems


def _where(shot: Shot, *rest) -> tuple:
    return ("shots", shot.index, *rest)


def _check_ids(report: _Report) -> None:
    seen: dict[str, int] = {}
    for shot in report.sb.shots:
        if shot.id in seen:
            report.add(_where(shot, "id"), f"shot id {shot.id!r} is already used by shots[{seen[shot.id]}]")
        seen.setdefault(shot.id, shot.index)


def _prompts(shot: Shot) -> Iterator[tuple[tuple, str]]:
    yield _where(shot, "prompt"), shot.prompt
    for i, segment in enumerate(shot.multi_prompt):
        yield _where(shot, "multi_prompt", i, "prompt"), segment.prompt


def _check_mentions(report: _Report, shot: Shot) -> None:
    sb = report.sb
    for path, text in _prompts(shot):
        for name, _ in find_mentions(text):
            asset = sb.assets.get(name)
            if name not in sb.characters and asset is None:
                known = ", ".join(f"@{n}" for n in [*sb.characters, *sb.assets]) or "none defined"
                report.add(path, f"shot {shot.id!r}: @{name} is not a character or asset (known: {known}); "
                                 "write @@ for a literal @")
            elif asset is not None and asset.kind == "audio":
                report.add(path, f"shot {shot.id!r}: @{name} is an audio asset; audio goes in the soundtrack, "
                                 "not in a prompt")
            elif asset is not None and asset.kind == "video" and shot.video != name:
                report.add(path, f"shot {shot.id!r}: @{name} is a video asset; set `video: {name}` on the shot "
                                 "to use it as the reference video")
    if shot.video is not None:
        asset = sb.assets.get(shot.video)
        if asset is None or asset.kind != "video":
            report.add(_where(shot, "video"), f"shot {shot.id!r}: video {shot.video!r} must name a video asset")
    elif shot.keep_original_sound is not None:
        report.add(_where(shot, "keep_original_sound"),
                   f"shot {shot.id!r}: keep_original_sound only matters with a reference video", warning=True)
    for i, name in enumerate(shot.refs):
        asset = sb.assets.get(name)
        if name not in sb.characters and (asset is None or asset.kind != "image"):
            report.add(_where(shot, "refs", i), f"shot {shot.id!r}: refs entry {name!r} must name a character "
                                                "or an image asset")


def _host_key(report: _Report, shot: Shot) -> str:
    """Where the shot's host is written: its own ``host``/``backend``, else (by fallback) the shot."""
    for key in ("host", "backend"):
        if _where(shot, key) in report.sb.positions.values:
            return key
    return "host"


def _check_model(report: _Report, shot: Shot) -> None:
    if shot.backend not in known_backends():
        report.add(_where(shot, _host_key(report, shot)), f"shot {shot.id!r}: unknown host {shot.backend!r} "
                                                          f"(known: {', '.join(known_backends())})")
        return
    if get_model(shot.model) is None or get_model(shot.model).kind != "video":
        choices = ", ".join(models_for(shot.backend, "video")) or "none"
        known = "is not in the catalog" if get_model(shot.model) is None else "makes images, not videos"
        report.add(_where(shot, "model"), f"shot {shot.id!r}: model {shot.model!r} {known} "
                                          f"(video models {shot.backend} offers: {choices})")
        return
    model = get_model(shot.model, shot.backend)
    if model is None:
        report.add(_where(shot, _host_key(report, shot)),
                   f"shot {shot.id!r}: {shot.backend} does not offer {shot.model}; hosts that have it: "
                   f"{', '.join(hosts_for(shot.model))} (set `host:` on the shot or in defaults)")
        return
    if not model.duration_ok(shot.duration):
        report.add(_where(shot, "duration"), f"shot {shot.id!r}: {model.id} renders {model.duration_rule()}, "
                                             f"not {shot.duration} s")
    most_with_video = model.limit("durations", "max_with_video")
    if shot.video and most_with_video is not None and shot.duration > most_with_video:
        report.add(_where(shot, "duration"), f"shot {shot.id!r}: {model.id} on {model.backend} renders at most "
                                             f"{most_with_video} s with a reference video, not {shot.duration:g} s")
    if shot.aspect_ratio not in model.limit("aspect_ratios", default=[]):
        report.add(_where(shot, "aspect_ratio"), f"shot {shot.id!r}: {model.id} does not render {shot.aspect_ratio}")
    if shot.video and not model.feature("reference_video"):
        report.add(_where(shot, "video"), f"shot {shot.id!r}: {model.id} cannot use a reference video; remove "
                                          "`video` or pick another model")
    video = report.sb.assets.get(shot.video) if shot.video else None
    if video is not None and model.limit("reference_video", "local_files") is False and not is_url(video.source):
        report.add(_where(shot, "video"), f"shot {shot.id!r}: {model.backend} takes a reference video only as an "
                                          f"https:// URL (it has no upload route); give asset {shot.video!r} as a URL "
                                          "or pick another host")
    if shot.multi_prompt and not model.feature("multi_prompt"):
        report.add(_where(shot, "multi_prompt"), f"shot {shot.id!r}: {model.id} does not support multi_prompt")
    elif shot.multi_prompt and shot.video and model.limit("features", "multi_prompt_with_video") is False:
        report.add(_where(shot, "multi_prompt"), f"shot {shot.id!r}: {model.backend} takes a reference video on a "
                                                 "route without multi_prompt; drop one or pick another host")
    if shot.sound and not model.feature("sound"):
        report.add(_where(shot, "sound"), f"shot {shot.id!r}: {model.id} generates no audio; the clip will have "
                                          "a silent track", warning=True)
    if shot.sound and shot.video:
        report.add(_where(shot, "sound"), f"shot {shot.id!r}: sound is ignored with a reference video "
                                          "(priced at the reference-video rate)", warning=True)
    # A continue_from frame is one more reference image (the first).
    images = sum(len(files) for _, files in reference_names(report.sb, shot)) + (1 if shot.continue_from else 0)
    limit = model.limit("reference_images", "max_with_video" if shot.video else "max")
    if limit is not None and images > limit:
        with_video = " with a reference video" if shot.video else ""
        report.add(_where(shot, "prompt"), f"shot {shot.id!r}: {images} reference images, but {model.id} takes at "
                                           f"most {limit}{with_video}")
    _check_reference_counts(report, shot, model, images)
    max_chars = model.limit("prompt", "max_chars")
    segment_chars = model.limit("multi_prompt", "max_chars")
    if max_chars or segment_chars:
        for (path, _), compiled in zip(_prompts(shot), compiled_prompts(report.sb, shot, model), strict=True):
            length = len(compiled)
            most, what = (segment_chars, "segment prompt") if path[2] == "multi_prompt" else (max_chars, "prompt")
            if most and length > most:
                report.add(path, f"shot {shot.id!r}: the compiled {what} is {length} characters; {model.id} "
                                 f"accepts at most {most}")


def _check_reference_counts(report: _Report, shot: Shot, model: Model, images: int) -> None:
    """Limits some hosts and models add: a minimum of images, images per character."""
    least = model.limit("reference_images", "min")
    if least and images < least:
        report.add(_where(shot, "prompt"), f"shot {shot.id!r}: {model.id} needs at least {least} reference "
                                           f"image(s); mention a character or image asset, or add `refs`")
    per_character = model.limit("reference_images", "max_per_character")
    for name, files in reference_names(report.sb, shot):
        if per_character and name in report.sb.characters and len(files) > per_character:
            report.add(_where(shot, "prompt"), f"shot {shot.id!r}: character {name!r} has {len(files)} images; "
                                               f"{model.id} on {model.backend} takes at most {per_character} per "
                                               "character")


def _check_multi_prompt(report: _Report, shot: Shot) -> None:
    if not shot.multi_prompt:
        return
    model = get_model(shot.model, shot.backend)
    most = model.limit("multi_prompt", "max_segments", default=6) if model else 6
    least = model.limit("multi_prompt", "min_duration", default=1) if model else 1
    if len(shot.multi_prompt) > most:
        report.add(_where(shot, "multi_prompt"), f"shot {shot.id!r}: {len(shot.multi_prompt)} segments; at most "
                                                 f"{most} are allowed")
    for i, segment in enumerate(shot.multi_prompt):
        if segment.duration < least - _EPS:
            report.add(_where(shot, "multi_prompt", i, "duration"), f"shot {shot.id!r}: a segment lasts at least "
                                                                     f"{least} s")
    total = sum(s.duration for s in shot.multi_prompt)
    if abs(total - shot.duration) > _EPS:
        report.add(_where(shot, "multi_prompt"), f"shot {shot.id!r}: segment durations sum to {total:g} s but the "
                                                 f"shot lasts {shot.duration:g} s")


def _check_edit_fields(report: _Report, shot: Shot) -> None:
    if shot.trim:
        start, end = shot.trim
        if not (0 <= start < end <= shot.duration + _EPS):
            report.add(_where(shot, "trim"), f"shot {shot.id!r}: trim [{start:g}, {end:g}] must satisfy "
                                             f"0 ≤ in < out ≤ {shot.duration:g} (the shot's duration)")
    if shot.transition is None:
        return
    following = report.sb.shots[shot.index + 1] if shot.index + 1 < len(report.sb.shots) else None
    if following is not None and following.transition is not None and \
            shot.transition.duration + following.transition.duration > shot.length + _EPS:
        report.add(_where(shot, "transition", "duration"),
                   f"shot {shot.id!r}: its transitions in ({shot.transition.duration:g} s) and out "
                   f"({following.transition.duration:g} s) overlap; together they must fit in its {shot.length:g} s")
    if shot.index == 0:
        report.add(_where(shot, "transition"), f"shot {shot.id!r}: the first shot has nothing to transition from")
        return
    previous = report.sb.shots[shot.index - 1]
    shortest = min(shot.length, previous.length)
    if shot.transition.duration >= shortest - _EPS:
        report.add(_where(shot, "transition", "duration"),
                   f"shot {shot.id!r}: a {shot.transition.duration:g} s transition must be shorter than both shots "
                   f"it joins ({previous.id}: {previous.length:g} s, {shot.id}: {shot.length:g} s)")


def _check_soundtrack(report: _Report) -> None:
    sb = report.sb
    shot_ids = {s.id for s in sb.shots}
    for item in sb.soundtrack:
        i = item.index
        asset = sb.assets.get(item.asset)
        if asset is None or asset.kind != "audio":
            report.add(("soundtrack", i, "asset"), f"soundtrack asset {item.asset!r} must name an audio asset")
        if item.at is not None and item.at not in shot_ids:
            report.add(("soundtrack", i, "at"), f"soundtrack 'at' {item.at!r} is not a shot id")


def _frames(seconds: Fraction, fps: Fraction) -> int:
    # The editor's rounding (edit/timeline.py to_frames): the nearest frame boundary, halves to even.
    return round(seconds * fps)


def _exact(value: float) -> Fraction:
    return Fraction(repr(float(value)))


def _timeline_seconds(shots: tuple[Shot, ...]) -> Fraction:
    """How long the cut of ``shots`` lasts: Σ trimmed shots − Σ transitions (exact)."""
    total = sum((_exact(s.length) for s in shots), Fraction(0))
    return total - sum((_exact(s.transition.duration) for s in shots[1:] if s.transition), Fraction(0))


def _fps(value: float) -> Fraction:
    for num in (24000, 30000, 60000):  # NTSC-style rates, as the editor reads them
        if abs(value - num / 1001) < 1e-3:
            return Fraction(num, 1001)
    return _exact(value)


def _check_deliverables(report: _Report) -> None:
    seen: set[str] = set()
    for item in report.sb.deliverables:
        i = item.index
        if item.length is not None:
            fps = _fps(item.fps)
            total, wanted = _frames(_timeline_seconds(report.sb.shots), fps), _frames(_exact(item.length), fps)
            if total != wanted:
                report.add(("deliverables", i, "length"),
                           f"deliverable {item.name!r} must last {item.length:g} s ({wanted} frames at {item.fps:g} "
                           f"fps) but its shots add up to {float(total / fps):g} s ({total} frames) after "
                           "transitions; change the shots' durations, trims or transitions, or the length")
        if item.name in seen:
            report.add(("deliverables", i, "name"), f"deliverable name {item.name!r} is used twice")
        seen.add(item.name)
        if max(item.width, item.height) > MAX_SIDE or min(item.width, item.height) < 16:
            report.add(("deliverables", i, "size"), f"deliverable {item.name!r}: {item.width}x{item.height} is not a "
                                                    f"size H.264 encodes; each side is 16 to {MAX_SIDE} pixels")
            continue
        if item.width % 2 or item.height % 2:
            report.add(("deliverables", i, "size"), f"deliverable {item.name!r}: H.264 needs even dimensions, "
                                                    f"got {item.width}x{item.height}")
        ratio = RATIOS[item.aspect_ratio]
        if abs(item.width / item.height - ratio) / ratio > 0.01:
            how = "cropped" if item.reframe != "pad" else "letterboxed"
            report.add(("deliverables", i, "size"), f"deliverable {item.name!r}: {item.width}x{item.height} is not "
                                                    f"exactly {item.aspect_ratio}; the picture will be {how} to fit",
                       warning=True)


def _check_backend_settings(report: _Report) -> None:
    """Each backend the storyboard uses or configures checks its own block (pure, torch-free)."""
    sb = report.sb
    used = dict.fromkeys([*(shot.backend for shot in sb.shots), *(m.backend for m in sb.generated.values()),
                          *sb.backends])
    for name in used:
        try:
            plugin = get_plugin(name)
        except BackendUnavailable:
            continue  # an unknown backend is reported where it is named
        for problem in plugin.check_settings(sb.backends.get(name, {}), sb.directory):
            key = problem.key.split(".")[0] if problem.key else None
            report.add(("backends", name, *([key] if key else [])), f"backend {name!r}: {problem.message}",
                       warning=problem.warning)
