"""Loading a storyboard: YAML with positions → schema → dataclasses → semantic rules → references.

Everything here is pure except reading the file and the reference checks (stat, ffprobe), which
live in :mod:`reelmake.references`. Problems are collected, never raised one at a time.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from . import references, rules
from .catalog import default_model, get_model
from .errors import Problem, ValidationError
from .model import (
    Asset,
    Character,
    Deliverable,
    Mix,
    Segment,
    Shot,
    ShotTransition,
    SoundtrackItem,
    Storyboard,
)
from .schema import schema_problems
from .yamlpos import Positions, load_yaml

STANDARD_SIZES = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
SHOT_DEFAULTS = {"backend": "animatic", "aspect_ratio": "16:9", "duration": 5, "sound": False,
                 "shot_type": "intelligent"}


def project_root(path: Path) -> Path:
    """The git work tree containing ``path``, else its directory: references may not leave it."""
    start = path.resolve().parent
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def display_name(path: Path) -> str:
    """The path as users typed it relative to the current directory, when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _choose_model(backend: str, model_id: str | None, override: str | None) -> tuple[str, str]:
    if override:
        keep = model_id and (m := get_model(model_id)) is not None and m.backend == override
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
    backend, model = _choose_model(merged["backend"], merged.get("model"), override)
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
    )


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
    for item in raw:
        if "size" in item:
            width, height = (int(v) for v in item["size"].split("x"))
            aspect = item.get("aspect_ratio") or _aspect_of(width, height) or shots_aspect
        else:
            aspect = item.get("aspect_ratio", shots_aspect)
            width, height = STANDARD_SIZES[aspect]
        out.append(Deliverable(
            name=item["name"], aspect_ratio=aspect, width=width, height=height,
            fps=float(item.get("fps", 24)), reframe=item.get("reframe", "crop"),
            captions=item.get("captions", "sidecar"), quality=int(item.get("quality", 18)),
        ))
    return tuple(out)


def build(data: dict[str, Any], path: Path, root: Path, positions: Positions, override: str | None) -> Storyboard:
    """Schema-valid data → Storyboard with defaults applied (pure)."""
    defaults = data.get("defaults", {})
    shots = tuple(_shot(i, raw, defaults, override) for i, raw in enumerate(data["shots"]))
    mix = data.get("mix", {})
    return Storyboard(
        path=path,
        root=root,
        title=data["title"],
        style=data.get("style", ""),
        budget=Decimal(str(data["budget"])) if "budget" in data else None,
        characters={name: Character(name, tuple(c["images"]), c.get("description", ""))
                    for name, c in data.get("characters", {}).items()},
        assets={name: _asset(name, a) for name, a in data.get("assets", {}).items()},
        shots=shots,
        soundtrack=tuple(SoundtrackItem(**item) for item in data.get("soundtrack", [])),
        mix=Mix(**mix),
        deliverables=_deliverables(data.get("deliverables"), shots[0].aspect_ratio),
        backends={name: dict(settings) for name, settings in data.get("backends", {}).items()},
        positions=positions,
    )


def _asset(name: str, raw: dict[str, Any]) -> Asset:
    kind = next(k for k in ("image", "video", "audio") if k in raw)
    return Asset(name, kind, raw[kind], raw.get("description", ""))


def parse(
    text: str,
    path: Path,
    *,
    filename: str | None = None,
    root: Path | None = None,
    backend: str | None = None,
    check_media: bool = True,
) -> tuple[Storyboard | None, list[Problem]]:
    """Validate storyboard ``text`` as if it lived at ``path``; (storyboard or None, all problems)."""
    filename = filename or display_name(path)
    path = Path(path).absolute()
    root = root or project_root(path)
    data, positions, problems = load_yaml(text, filename)
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        return None, [*problems, Problem(filename, 1, 1, "", "a storyboard is a YAML mapping (reelmake: 1, title, shots…)")]
    problems += schema_problems(data, positions, filename)
    if any(p.severity == "error" for p in problems):
        # Semantic rules assume the shape is right; the schema errors come first.
        return None, problems
    storyboard = build(data, path, root, positions, backend)
    problems += rules.check(storyboard, filename)
    problems += references.check(storyboard, filename, probe_media=check_media)
    problems.sort(key=lambda p: (p.line, p.column))
    if any(p.severity == "error" for p in problems):
        return None, problems
    warnings = tuple(p for p in problems if p.severity == "warning")
    return Storyboard(**{**storyboard.__dict__, "warnings": warnings}), problems


def load(path: str | Path, *, backend: str | None = None, check_media: bool = True) -> Storyboard:
    """Load and validate a storyboard file; raise :class:`ValidationError` with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError([Problem(display_name(path), 1, 1, "", f"cannot read the storyboard: {exc}")]) from exc
    storyboard, problems = parse(text, path, backend=backend, check_media=check_media)
    if storyboard is None:
        raise ValidationError(problems)
    return storyboard
