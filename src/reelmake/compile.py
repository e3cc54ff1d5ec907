"""Shot → backend request → render key (SPEC §3). Pure, given a content hasher for local files.

Each request format ("compiler" in the catalog) has one function here; backends receive the result
and know nothing about storyboards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .backends.base import InputFile, RenderJob, file_ref
from .backends.local_wan_settings import num_frames_for as frames_for  # torch-free
from .catalog import Model, get_model, price, pricing_mode
from .mentions import find_mentions, substitute
from .model import Shot, Storyboard

# Bump when the meaning of a compiled request changes, so old cache entries are not reused.
KEY_VERSION = 1
# Bump when the animatic draws differently, so cached previews are drawn again.
ANIMATIC_LOOK = 2

Hasher = Callable[[Path], str]


def is_url(source: str) -> bool:
    return source.startswith("https://") or source.startswith("http://")


def reference_names(sb: Storyboard, shot: Shot) -> list[tuple[str, tuple[str, ...]]]:
    """The shot's reference images in SPEC order: each character or image asset at its first
    mention (prompt, then multi_prompt segments), then ``refs`` not already mentioned.
    Returns (name, image sources) pairs; a character contributes all its images, consecutively."""
    ordered: list[str] = []
    texts = [shot.prompt, *(s.prompt for s in shot.multi_prompt)]
    for text in texts:
        for name, _ in find_mentions(text):
            if name not in ordered:
                ordered.append(name)
    ordered += [name for name in shot.refs if name not in ordered]
    result = []
    for name in ordered:
        if name in sb.characters:
            result.append((name, sb.characters[name].images))
        elif name in sb.assets and sb.assets[name].kind == "image":
            result.append((name, (sb.assets[name].source,)))
    return result


def _figures(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"Figure {numbers[0]}"
    head = ", ".join(str(n) for n in numbers[:-1])
    return f"Figures {head} and {numbers[-1]}"


def _with_style(text: str, style: str) -> str:
    if not style:
        return text
    text = text.rstrip()
    joiner = " " if text.endswith((".", "!", "?")) else ". "
    return f"{text}{joiner}{style}"


def compile_prompt(sb: Storyboard, shot: Shot, text: str, compiler: str) -> str:
    """One prompt (main or segment) with mentions replaced as the compiler's model expects."""
    numbering: dict[str, list[int]] = {}
    counter = 1
    for name, images in reference_names(sb, shot):
        numbering[name] = list(range(counter, counter + len(images)))
        counter += len(images)
    described: set[str] = set()

    def for_kling(name: str) -> str:
        if name in numbering:
            return _figures(numbering[name])
        return "the reference video"  # the only other mention rules.py allows

    def for_text_encoder(name: str) -> str:
        # A text encoder cannot see figure numbers; give it the identity in words, once.
        entity = sb.characters.get(name) or sb.assets.get(name)
        description = getattr(entity, "description", "")
        if description and name not in described:
            described.add(name)
            return f"{name} ({description})"
        return name

    replace = {"kling-o3": for_kling, "wan-vace": for_text_encoder}.get(compiler, lambda name: name)
    return _with_style(substitute(text, replace), sb.style)


def _source_path(sb: Storyboard, source: str) -> Path:
    return (sb.directory / source).resolve()


class _Files:
    """Collects the local files a request references, by content hash."""

    def __init__(self, sb: Storyboard, hasher: Hasher) -> None:
        self.sb, self.hasher, self.files = sb, hasher, {}

    def ref(self, source: str, kind: str, name: str) -> str:
        if is_url(source):
            return source
        path = _source_path(self.sb, source)
        digest = self.hasher(path)
        self.files[digest] = InputFile(digest, path, kind, name)
        return file_ref(digest)


def _images(sb: Storyboard, shot: Shot, files: _Files) -> tuple[list[str], list[str]]:
    refs, labels = [], []
    for name, sources in reference_names(sb, shot):
        for source in sources:
            refs.append(files.ref(source, "image", name))
            labels.append(name)
    return refs, labels


def _video(sb: Storyboard, shot: Shot, files: _Files) -> str | None:
    if shot.video is None:
        return None
    return files.ref(sb.assets[shot.video].source, "video", shot.video)


def _kling(sb: Storyboard, shot: Shot, model: Model, aspect: str, files: _Files) -> dict[str, Any]:
    images, _ = _images(sb, shot, files)
    request: dict[str, Any] = {
        "prompt": compile_prompt(sb, shot, shot.prompt, model.compiler),
        "images": images,
        "sound": shot.sound,
        "aspect_ratio": aspect,
        "duration": int(shot.duration),
        "shot_type": shot.shot_type,
    }
    video = _video(sb, shot, files)
    if video:
        request["video"] = video
        request["keep_original_sound"] = True if shot.keep_original_sound is None else shot.keep_original_sound
    if shot.multi_prompt:
        request["multi_prompt"] = [
            {"prompt": compile_prompt(sb, shot, s.prompt, model.compiler), "duration": int(s.duration)}
            for s in shot.multi_prompt
        ]
    return request


def _animatic(sb: Storyboard, shot: Shot, model: Model, aspect: str, files: _Files) -> dict[str, Any]:
    images, labels = _images(sb, shot, files)
    width, height = model.size_for(aspect) or (1280, 720)
    return {
        "look": ANIMATIC_LOOK,
        "shot": shot.id,
        "prompt": compile_prompt(sb, shot, shot.prompt, model.compiler),
        "duration": float(shot.duration),
        "aspect_ratio": aspect,
        "width": width,
        "height": height,
        "fps": model.limit("fps", default=24),
        "images": images,
        "labels": labels,
        "video": _video(sb, shot, files),
        "sound": shot.sound,
        "segments": [{"prompt": compile_prompt(sb, shot, s.prompt, model.compiler), "duration": s.duration}
                     for s in shot.multi_prompt],
    }


def default_seed(shot_id: str) -> int:
    """A stable per-shot seed, so unseeded shots are reproducible yet differ from each other."""
    return int(hashlib.sha256(shot_id.encode()).hexdigest()[:8], 16) % (2**31)


def _wan(sb: Storyboard, shot: Shot, model: Model, aspect: str, files: _Files) -> dict[str, Any]:
    settings = sb.backends.get("local", {})
    images, _ = _images(sb, shot, files)
    size = settings.get("sizes", {}).get(aspect)
    width, height = (int(v) for v in size.split("x")) if size else (model.size_for(aspect) or (832, 480))
    fps = int(settings.get("fps", model.limit("fps", default=16)))
    request = {
        "prompt": compile_prompt(sb, shot, shot.prompt, model.compiler),
        "negative_prompt": "",
        "reference_images": images,
        "width": width,
        "height": height,
        "num_frames": frames_for(shot.duration, fps),
        "fps": fps,
        "duration": float(shot.duration),
        "steps": int(settings.get("steps", model.limit("steps", default=30))),
        "guidance_scale": float(settings.get("guidance_scale", model.limit("guidance_scale", default=5.0))),
        "flow_shift": float(settings.get("flow_shift", model.limit("flow_shift", default=3.0))),
        "seed": shot.seed if shot.seed is not None else default_seed(shot.id),
        # As written in the storyboard (a hub id or a path relative to it), so keys match across machines.
        "model": settings.get("model_path", model.endpoint),
    }
    if "dtype" in settings:  # unset: bfloat16 on GPU, float32 on CPU, chosen by the backend
        request["dtype"] = settings["dtype"]
    return request


COMPILERS = {"kling-o3": _kling, "animatic": _animatic, "wan-vace": _wan}


def render_key(backend: str, model: str, endpoint: str, request: dict[str, Any]) -> str:
    """sha256 over everything that determines the generated pixels (files enter by content hash)."""
    payload = {"v": KEY_VERSION, "backend": backend, "model": model, "endpoint": endpoint, "request": request}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def job_id(shot: Shot, aspect: str) -> str:
    """A shot's own render is named by its id; a native render for another deliverable ratio by id@ratio."""
    return shot.id if aspect == shot.aspect_ratio else f"{shot.id}@{aspect}"


def compile_shot(sb: Storyboard, shot: Shot, hasher: Hasher, aspect_ratio: str | None = None) -> RenderJob:
    model = get_model(shot.model)
    if model is None:
        raise KeyError(f"model {shot.model!r} is not in the catalog")
    aspect = aspect_ratio or shot.aspect_ratio
    files = _Files(sb, hasher)
    request = COMPILERS[model.compiler](sb, shot, model, aspect, files)
    mode = pricing_mode(has_video=shot.video is not None, sound=shot.sound)
    return RenderJob(
        key=render_key(shot.backend, model.id, model.endpoint, request),
        shot_id=job_id(shot, aspect),
        backend=shot.backend,
        model=model.id,
        endpoint=model.endpoint,
        request=request,
        files=dict(files.files),
        duration=float(shot.duration),
        aspect_ratio=aspect,
        sound=shot.sound,
        mode=mode,
        cost=price(model, mode, shot.duration),
        settings=dict(sb.backends.get(shot.backend, {})),
    )


def native_aspects(sb: Storyboard) -> list[str]:
    """Extra aspect ratios rendered natively for `reframe: render` deliverables."""
    return [d.aspect_ratio for d in sb.deliverables if d.reframe == "render"]


def compile_storyboard(sb: Storyboard, hasher: Hasher) -> list[RenderJob]:
    """Every render the storyboard needs, in cut order: each shot at its own ratio, plus each ratio a
    `reframe: render` deliverable asks for."""
    jobs = []
    for shot in sb.shots:
        aspects = [shot.aspect_ratio, *(a for a in native_aspects(sb) if a != shot.aspect_ratio)]
        for aspect in dict.fromkeys(aspects):
            jobs.append(compile_shot(sb, shot, hasher, aspect))
    return jobs
