"""The rules of the build graph: ``continue_from`` and ``generate:`` (SPEC §2 semantics a schema cannot
express). Pure: reads the Storyboard only; :mod:`reelmake.core.rules` runs them with the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..catalog import get_model, hosts_for, models_for
from ..plugins import known_backends
from .compile import frame_name, image_reference_names, image_size
from .graph import dependants, find_cycle, is_image_node
from .mentions import find_mentions
from .model import Generate, Shot

if TYPE_CHECKING:
    from .rules import _Report


def check(report: _Report) -> None:
    sb = report.sb
    for shot in sb.shots:
        _check_continuation(report, shot)
    for made in sb.generated.values():
        _check_generate(report, made)
    _check_cycle(report)


def _shot_path(shot: Shot, *rest: object) -> tuple:
    return ("shots", shot.index, *rest)


def _gen_path(made: Generate, *rest: object) -> tuple:
    return (made.section, made.owner, "generate", *rest)


def _check_continuation(report: _Report, shot: Shot) -> None:
    sb = report.sb
    written = _shot_path(shot, "frame") in sb.positions.values
    if shot.continue_from is None:
        if written:
            report.add(_shot_path(shot, "frame"), f"shot {shot.id!r}: frame only matters with continue_from",
                       warning=True)
    elif shot.continue_from == shot.id:
        report.add(_shot_path(shot, "continue_from"), f"shot {shot.id!r} cannot continue from itself; name the "
                                                      "shot it follows")
    else:
        upstream = next((s for s in sb.shots if s.id == shot.continue_from), None)
        if upstream is None:
            known = ", ".join(s.id for s in sb.shots if s.id != shot.id) or "none"
            report.add(_shot_path(shot, "continue_from"), f"shot {shot.id!r}: continue_from {shot.continue_from!r} "
                                                          f"is not a shot of this storyboard (shots: {known})")
        elif shot.frame not in ("last", "first") and float(shot.frame) >= upstream.duration:
            # At the very end there is no frame to take: found only once the upstream is paid for.
            report.add(_shot_path(shot, "frame"), f"shot {shot.id!r}: frame {shot.frame} is past the end of "
                                                  f"{upstream.id!r}, whose clip lasts {upstream.duration:g} s")
    if shot.approve_before_use and not any(s.continue_from == shot.id for s in sb.shots):
        report.add(_shot_path(shot, "approve_before_use"), f"shot {shot.id!r}: no shot continues from it, so "
                                                           "approve_before_use holds nothing", warning=True)


def _host_path(report: _Report, made: Generate) -> tuple:
    return _gen_path(made, "host") if _gen_path(made, "host") in report.sb.positions.values else _gen_path(made)


def _check_generate(report: _Report, made: Generate) -> None:
    sb = report.sb
    owner = sb.characters.get(made.owner) if made.section == "characters" else sb.assets.get(made.owner)
    what = f"{made.section[:-1]} {made.owner!r}"
    if not made.prompt.strip() and not getattr(owner, "description", "").strip():
        report.add(_gen_path(made), f"{what}: an image model needs something to draw: give the {made.section[:-1]} "
                                    "a description or generate a prompt")
    _check_image_refs(report, made, what)
    if made.backend not in known_backends():
        report.add(_host_path(report, made), f"{what}: unknown host {made.backend!r} "
                                             f"(known: {', '.join(known_backends())})")
        return
    model = get_model(made.model)
    if model is None or model.kind != "image":
        choices = ", ".join(models_for(made.backend, "image")) or "none"
        known = "is not in the catalog" if model is None else "makes videos, not images"
        report.add(_gen_path(made, "model") if _gen_path(made, "model") in sb.positions.values else _gen_path(made),
                   f"{what}: image model {made.model or '(none)'!r} {known} (image models {made.backend} offers: "
                   f"{choices})")
        return
    model = get_model(made.model, made.backend)
    if model is None:
        report.add(_host_path(report, made), f"{what}: {made.backend} does not offer {made.model}; hosts that have "
                                             f"it: {', '.join(hosts_for(made.model))}")
        return
    if made.size and model.limit("image_size", "fixed"):
        report.add(_gen_path(made, "size"), f"{what}: {model.id} picks its own size; remove `size`")
    size = image_size(made, model)
    if size is not None:
        _check_size(report, made, model, size, what)
    images = sum(len(sources) for _, sources in image_reference_names(sb, made))
    most = model.limit("reference_images", "max")
    if most is not None and images > most:
        report.add(_gen_path(made), f"{what}: {images} reference images, but {model.id} takes at most {most}")
    if made.approve_before_use and not dependants(sb, made.node):
        report.add(_gen_path(made, "approve_before_use"), f"{what}: nothing uses it, so approve_before_use holds "
                                                          "nothing", warning=True)


def _check_size(report: _Report, made: Generate, model, size: tuple[int, int], what: str) -> None:
    width, height = size
    limits = model.limit("image_size", default={}) or {}
    written = f"{width}x{height}"
    problems = []
    if limits.get("min_side") and min(size) < limits["min_side"]:
        problems.append(f"each side at least {limits['min_side']} px")
    if limits.get("max_side") and max(size) > limits["max_side"]:
        problems.append(f"each side at most {limits['max_side']} px")
    if limits.get("min_pixels") and width * height < limits["min_pixels"]:
        problems.append(f"at least {limits['min_pixels']:,} pixels in all (2048x2048, 2560x1440…)")
    if limits.get("max_pixels") and width * height > limits["max_pixels"]:
        problems.append(f"at most {limits['max_pixels']:,} pixels in all")
    if limits.get("even") and (width % 2 or height % 2):
        problems.append("even widths and heights")
    if problems:
        path = _gen_path(made, "size") if made.size else _gen_path(made)
        report.add(path, f"{what}: {model.id} cannot make a {written} image: it takes {'; '.join(problems)}")


def _check_image_refs(report: _Report, made: Generate, what: str) -> None:
    sb = report.sb
    mentioned = [name for name, _ in find_mentions(made.prompt)]
    for where, names in ((("prompt",), mentioned), (("refs",), list(made.refs))):
        for i, name in enumerate(names):
            path = _gen_path(made, *where) if where == ("prompt",) else _gen_path(made, "refs", i)
            asset = sb.assets.get(name)
            if name == made.owner:
                report.add(path, f"{what}: cannot use itself as a reference")
            elif name not in sb.characters and (asset is None or asset.kind != "image"):
                report.add(path, f"{what}: {'@' if where == ('prompt',) else ''}{name} must name a character or an "
                                 "image asset")


def _cycle_path(report: _Report, node: str, upstream: str) -> tuple:
    """Where the edge ``upstream → node`` is written: a continue_from, or a generate prompt / refs."""
    sb = report.sb
    if not is_image_node(node):
        shot = sb.shot(node)
        if shot.continue_from == upstream:
            return _shot_path(shot, "continue_from")
        return _shot_path(shot, "refs") if _shot_path(shot, "refs") in sb.positions.values else _shot_path(shot, "prompt")
    made = sb.generated[node]
    written = _gen_path(made, "refs")
    return written if written in sb.positions.values else _gen_path(made, "prompt")


def _check_cycle(report: _Report) -> None:
    cycle = find_cycle(report.sb)
    if cycle is None:
        return
    # The edge closing the cycle is reported where it is written: cycle[0] needs cycle[-2] … read
    # downstream first, so the message reads in build order.
    chain = list(reversed(cycle))
    node, upstream = chain[1], chain[0]
    report.add(_cycle_path(report, node, upstream),
               f"these renders depend on each other in a cycle, so none can go first: {' → '.join(chain)} "
               "(a shot continues from, or a generated image uses, the one before it)")


__all__ = ["check", "frame_name"]
