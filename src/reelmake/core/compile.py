"""Shot → :class:`ShotSpec` → the backend's request → :class:`RenderJob` with its render key (SPEC §3).

Pure: local files enter by content hash, looked up in what the inspection step found. The request
format itself belongs to the backend plugin (``BackendPlugin.compilers``); this module only builds
the provider-neutral shot and derives identity and price.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..catalog import Model, get_model, price, pricing_mode
from ..jobs import InputFile, JobId, Mention, Prompt, Reference, RenderJob, SegmentSpec, ShotSpec, file_ref
from ..plugins import get_plugin
from .mentions import MENTION
from .model import Shot, Storyboard

# Bump when the meaning of a compiled request changes, so old cache entries are not reused.
KEY_VERSION = 1

# source as written → (resolved path, sha256): what the inspection step found, for compiling.
Digests = Callable[[str], tuple[Path, str]]


def is_url(source: str) -> bool:
    return source.startswith("https://") or source.startswith("http://")


def prompt_parts(text: str) -> Prompt:
    """``"@maya runs @@home"`` → ``(Mention("maya"), " runs @home")``: mentions apart from the words."""
    parts: list[str | Mention] = []
    cursor = 0
    for match in MENTION.finditer(text):
        parts.append(text[cursor:match.start()])
        parts.append(Mention(match.group(1)) if match.group(1) else "@")
        cursor = match.end()
    parts.append(text[cursor:])
    merged: list[str | Mention] = []
    for part in parts:  # "@@" became "@": join it with the words around it
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return tuple(merged)


def reference_names(sb: Storyboard, shot: Shot) -> list[tuple[str, tuple[str, ...]]]:
    """The shot's reference images in SPEC order: each character or image asset at its first
    mention (prompt, then multi_prompt segments), then ``refs`` not already mentioned.
    Returns (name, image sources) pairs; a character contributes all its images, consecutively."""
    ordered: list[str] = []
    for text in (shot.prompt, *(s.prompt for s in shot.multi_prompt)):
        for match in MENTION.finditer(text):
            name = match.group(1)
            if name and name not in ordered:
                ordered.append(name)
    ordered += [name for name in shot.refs if name not in ordered]
    result = []
    for name in ordered:
        if name in sb.characters:
            result.append((name, sb.characters[name].images))
        elif name in sb.assets and sb.assets[name].kind == "image":
            result.append((name, (sb.assets[name].source,)))
    return result


def _written(source: str) -> tuple[Path, str]:
    """Digests for validation, before anything is hashed: the source itself stands in for the file."""
    return Path(source), source


def shot_spec(sb: Storyboard, shot: Shot, aspect: str | None = None,
              digests: Digests = _written, take: int = 1) -> tuple[ShotSpec, dict[str, InputFile]]:
    """The provider-neutral shot and the local files it uses (by sha256)."""
    files: dict[str, InputFile] = {}

    def ref(source: str, kind: str, name: str) -> str:
        if is_url(source):
            return source
        path, digest = digests(source)
        files[digest] = InputFile(digest, path, kind, name)
        return file_ref(digest)

    references = []
    for name, images in reference_names(sb, shot):
        kind = "character" if name in sb.characters else "image"
        entity = sb.characters.get(name) or sb.assets.get(name)
        references.append(Reference(name, kind, tuple(ref(src, "image", name) for src in images),
                                    getattr(entity, "description", "")))
    video = ref(sb.assets[shot.video].source, "video", shot.video) if shot.video else None
    spec = ShotSpec(
        shot=shot.id,
        prompt=prompt_parts(shot.prompt),
        aspect_ratio=aspect or shot.aspect_ratio,
        duration=float(shot.duration),
        sound=shot.sound,
        shot_type=shot.shot_type,
        style=sb.style,
        references=tuple(references),
        video=video,
        video_name=shot.video,
        keep_original_sound=shot.keep_original_sound,
        segments=tuple(SegmentSpec(prompt_parts(s.prompt), s.duration) for s in shot.multi_prompt),
        seed=shot.seed,
        take=take,
    )
    return spec, files


def request_format(model: Model) -> Any:
    """The host's compiler for the request format its offer of the model speaks (found through the
    plugin registry, so the core imports no backend)."""
    return get_plugin(model.backend).compilers[model.compiler]


def compiled_prompts(sb: Storyboard, shot: Shot, model: Model) -> list[str]:
    """The prompt and each segment prompt as the model will read them (for length limits)."""
    spec, _ = shot_spec(sb, shot)
    fmt = request_format(model)
    return [fmt.prompt(spec, spec.prompt), *(fmt.prompt(spec, s.prompt) for s in spec.segments)]


def render_key(backend: str, model: str, endpoint: str, request: Mapping[str, Any], take: int = 1) -> str:
    """sha256 over everything that determines the generated pixels (files enter by content hash).

    A take other than the first is its own render of the same request."""
    payload = {"v": KEY_VERSION, "backend": backend, "model": model, "endpoint": endpoint, "request": request}
    if take != 1:
        payload["take"] = take
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def compile_shot(sb: Storyboard, shot: Shot, digests: Digests, aspect_ratio: str | None = None, *,
                 variant: str = "", take: int = 1) -> RenderJob:
    """The shot as its host runs it. The host is part of the render key (as ``backend``, and through
    its endpoint and request format), so moving a shot to another host renders it again."""
    model = get_model(shot.model, shot.backend)
    if model is None:
        raise KeyError(f"model {shot.model!r} is not offered by {shot.backend!r}")
    aspect = aspect_ratio or shot.aspect_ratio
    spec, files = shot_spec(sb, shot, aspect, digests, take)
    request = request_format(model).request(spec, model, sb.backends.get(shot.backend, {}))
    mode = pricing_mode(has_video=shot.video is not None, sound=shot.sound)
    endpoint = model.endpoint_for(has_video=shot.video is not None)
    return RenderJob(
        id=JobId(shot.id, variant, None if aspect == shot.aspect_ratio else aspect, take),
        key=render_key(shot.backend, model.id, endpoint, request, take),
        backend=shot.backend,
        model=model.id,
        endpoint=endpoint,
        request=request,
        files=files,
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


def compile_storyboard(sb: Storyboard, digests: Digests, *, variant: str = "") -> list[RenderJob]:
    """Every render the storyboard asks for, in cut order: each shot at its own ratio, plus each ratio a
    `reframe: render` deliverable asks for, each as ``takes`` takes."""
    jobs = []
    for shot in sb.shots:
        aspects = [shot.aspect_ratio, *(a for a in native_aspects(sb) if a != shot.aspect_ratio)]
        for aspect in dict.fromkeys(aspects):
            for take in range(1, shot.takes + 1):
                jobs.append(compile_shot(sb, shot, digests, aspect, variant=variant, take=take))
    return jobs
