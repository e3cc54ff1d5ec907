"""A storyboard document: YAML with positions → schema → dataclasses → semantic rules. Pure.

The text comes in, a :class:`Storyboard` and every problem come out; nothing here touches the disk.
Which referenced files exist and what media they hold is the engine's inspection step, and
:mod:`reelmake.core.references` judges its findings.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog import default_model, get_model
from ..errors import Problem
from . import rules
from .model import (
    RATIOS,
    STANDARD_SIZES,
    Asset,
    Character,
    Deliverable,
    Generate,
    Mix,
    Segment,
    Shot,
    ShotTransition,
    SoundtrackItem,
    Storyboard,
)
from .schema import salvage, schema_problems
from .yamlpos import Positions, load_yaml

SHOT_DEFAULTS = {"backend": "animatic", "aspect_ratio": "16:9", "duration": 5, "sound": False,
                 "shot_type": "intelligent", "takes": 1}


def _host(raw: dict[str, Any], defaults: dict[str, Any], model_id: str | None) -> str:
    """Who runs the shot: ``host`` or ``backend`` (the older name; ``backend: wavespeed`` means host
    WaveSpeed), the shot's own before the defaults'; else the model's default host; else the animatic."""
    for layer in (raw, defaults):
        named = layer.get("host") or layer.get("backend")
        if named:
            return named
    model = get_model(model_id) if model_id else None
    return model.backend if model else SHOT_DEFAULTS["backend"]


def _choose_model(backend: str, model_id: str | None, override: str | None) -> tuple[str, str]:
    if override:
        keep = model_id and get_model(model_id, override) is not None
        if not keep:
            fallback = default_model(override)
            model_id = fallback.id if fallback else None
        backend = override
    if model_id is None:
        fallback = default_model(backend)
        model_id = fallback.id if fallback else ""
    return backend, model_id


def _shot(index: int, raw: dict[str, Any], defaults: dict[str, Any], override: str | None) -> Shot:
    merged = {**SHOT_DEFAULTS, **defaults, **raw}
    model_id = raw.get("model") or defaults.get("model")
    backend, model = _choose_model(_host(raw, defaults, model_id), model_id, override)
    transition = raw.get("transition")
    trim = raw.get("trim")
    return Shot(
        index=index,
        id=raw["id"],
        prompt=raw["prompt"],
        backend=backend,
        model=model,
        aspect_ratio=merged["aspect_ratio"],
        duration=merged["duration"],
        sound=merged["sound"],
        shot_type=merged["shot_type"],
        caption=raw.get("caption"),
        video=raw.get("video"),
        keep_original_sound=raw.get("keep_original_sound"),
        multi_prompt=tuple(Segment(s["prompt"], s["duration"]) for s in raw.get("multi_prompt", [])),
        refs=tuple(raw.get("refs", [])),
        trim=(trim[0], trim[1]) if trim else None,
        transition=ShotTransition(transition["type"], transition["duration"]) if transition else None,
        seed=raw.get("seed"),
        takes=merged["takes"],
        own_backend=merged["backend"],
        continue_from=raw.get("continue_from"),
        frame=frame_text(raw.get("frame", "last")),
        approve_before_use=bool(raw.get("approve_before_use", False)),
    )


def frame_text(value: Any) -> str:
    """``frame:`` as the job records it: "last", "first", or seconds written without trailing zeros."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{float(value):g}"
    return str(value)


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    width, height = (int(v) for v in text.split("x"))
    return width, height


def _generate(node: str, raw: dict[str, Any], defaults: dict[str, Any], override: str | None) -> Generate:
    """A ``generate:`` block with its host and model chosen: its own ``host``; else the defaults' host
    when that host offers the model (or, without a model, has image models); else the model's first host;
    else the animatic. ``--backend`` moves it only to a host that has image models (``--backend local``
    keeps a generated image where it is: the local backend makes no images)."""
    model_id = raw.get("model")
    named = defaults.get("host") or defaults.get("backend")
    host = raw.get("host")
    if host is None and named and (get_model(model_id, named) if model_id else default_model(named, "image")):
        host = named
    if host is None and model_id and get_model(model_id) is not None:
        host = get_model(model_id).backend
    host = host or SHOT_DEFAULTS["backend"]
    own = host
    if override and default_model(override, "image") is not None:
        if not (model_id and get_model(model_id, override)):
            model_id = default_model(override, "image").id
        host = override
    if model_id is None:
        fallback = default_model(host, "image")
        model_id = fallback.id if fallback else ""
    return Generate(node=node, model=model_id, backend=host, prompt=raw.get("prompt", ""),
                    refs=tuple(raw.get("refs", [])), size=_size(raw.get("size")),
                    approve_before_use=bool(raw.get("approve_before_use", False)), own_backend=own)


def _aspect_of(width: int, height: int) -> str | None:
    ratio = width / height
    for name, value in RATIOS.items():
        if abs(ratio - value) / value < 0.01:
            return name
    return None


def _deliverables(raw: list[dict[str, Any]] | None, shots_aspect: str) -> tuple[Deliverable, ...]:
    if not raw:
        width, height = STANDARD_SIZES[shots_aspect]
        return (Deliverable("master", shots_aspect, width, height, 24.0),)
    out = []
    for index, item in enumerate(raw):
        if item is None:
            continue  # left out by schema salvage
        if "size" in item:
            width, height = (int(v) for v in item["size"].split("x"))
            aspect = item.get("aspect_ratio") or _aspect_of(width, height) or shots_aspect
        else:
            aspect = item.get("aspect_ratio", shots_aspect)
            width, height = STANDARD_SIZES[aspect]
        out.append(Deliverable(
            name=item["name"], aspect_ratio=aspect, width=width, height=height,
            fps=float(item.get("fps", 24)), reframe=item.get("reframe", "crop"),
            captions=item.get("captions", "sidecar"), quality=int(item.get("quality", 18)), index=index,
            length=item.get("length"),
        ))
    return tuple(out)


def build(data: dict[str, Any], path: Path, root: Path, positions: Positions,
          override: str | None) -> Storyboard | None:
    """Schema-valid data → Storyboard with defaults applied (pure). Items left out by schema salvage are
    None and skipped; every other item keeps its index (errors point at the right line). None when no
    shot is left."""
    defaults = data.get("defaults", {})
    shots = tuple(_shot(i, raw, defaults, override) for i, raw in enumerate(data["shots"]) if raw is not None)
    if not shots:
        return None
    mix = data.get("mix", {})
    return Storyboard(
        path=path,
        root=root,
        title=data["title"],
        style=data.get("style", ""),
        budget=Decimal(str(data["budget"])) if "budget" in data else None,
        characters={name: _character(name, c, defaults, override) for name, c in data.get("characters", {}).items()},
        assets={name: _asset(name, a, defaults, override) for name, a in data.get("assets", {}).items()},
        shots=shots,
        soundtrack=tuple(SoundtrackItem(**item, index=i) for i, item in enumerate(data.get("soundtrack", []))
                         if item is not None),
        mix=Mix(**mix),
        deliverables=_deliverables(data.get("deliverables"), shots[0].aspect_ratio),
        backends={name: dict(settings) for name, settings in data.get("backends", {}).items()},
        positions=positions,
    )


def _character(name: str, raw: dict[str, Any], defaults: dict[str, Any], override: str | None) -> Character:
    generate = raw.get("generate")
    made = _generate(f"character:{name}", generate, defaults, override) if generate is not None else None
    return Character(name, tuple(raw.get("images", [])), raw.get("description", ""), made)


def _asset(name: str, raw: dict[str, Any], defaults: dict[str, Any], override: str | None) -> Asset:
    if "generate" in raw:
        return Asset(name, "image", "", raw.get("description", ""),
                     _generate(f"asset:{name}", raw["generate"], defaults, override))
    kind = next(k for k in ("image", "video", "audio") if k in raw)
    return Asset(name, kind, raw[kind], raw.get("description", ""))


def parse(
    text: str,
    path: Path,
    *,
    filename: str,
    root: Path,
    backend: str | None = None,
) -> tuple[Storyboard | None, list[Problem]]:
    """Validate storyboard ``text`` as if it lived at ``path`` (absolute) in project ``root``.

    Returns the storyboard (None when its shape is too broken to build one; check the problems for
    errors either way) and every problem found.
    """
    data, positions, problems = load_yaml(text, filename)
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        return None, [*problems, Problem(filename, 1, 1, "", "a storyboard is a YAML mapping (reelmake: 1, title, shots…)")]
    found = schema_problems(data, positions, filename)
    # A value the YAML layer already reported (a NaN, a bad tag) is not reported again by the schema.
    seen = {(p.line, p.column) for p in problems}
    problems += [p for p in found if (p.line, p.column) not in seen]
    if any(p.severity == "error" for p in found):
        # Check what is left: the rules must see every well-formed part, or one typo hides other errors.
        data = salvage(data)
        if data is None:
            return None, problems
    storyboard = build(data, path, root, positions, backend)
    if storyboard is None:
        return None, problems
    problems += rules.check(storyboard, filename)
    return storyboard, problems


def with_warnings(storyboard: Storyboard, problems: list[Problem]) -> Storyboard:
    warnings = tuple(p for p in problems if p.severity == "warning")
    return Storyboard(**{**storyboard.__dict__, "warnings": warnings})
