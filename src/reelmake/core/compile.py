"""Shot → :class:`ShotSpec` → the backend's request → :class:`RenderJob` with its render key (SPEC §3);
generated image → :class:`ImageSpec` → request → RenderJob likewise.

Pure: local files enter by content hash, looked up in what the inspection step found; the outputs of
other renders (a frame of the shot this one continues from, a generated image) enter the same way,
through ``outputs``, which :mod:`reelmake.core.graph` provides. The request format itself belongs to the
backend plugin (``BackendPlugin.compilers``); this module only builds the provider-neutral spec and
derives identity and price.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..catalog import Model, get_model, image_price, price, pricing_mode
from ..jobs import (
    ImageSpec,
    InputFile,
    JobId,
    Mention,
    Prompt,
    Reference,
    RenderJob,
    SegmentSpec,
    ShotSpec,
    Upstream,
    file_ref,
    placeholder,
)
from ..plugins import get_plugin
from .mentions import MENTION
from .model import Generate, Shot, Storyboard

# Bump when the meaning of a compiled request changes, so old cache entries are not reused.
KEY_VERSION = 1

# source as written → (resolved path, sha256): what the inspection step found, for compiling.
Digests = Callable[[str], tuple[Path, str]]

# How another render's output enters a request: (upstream node, frame or None, the aspect ratio of the
# job asking) → the file (None while it does not exist) and the Upstream record the job keeps.
Outputs = Callable[[str, "str | None", "str | None"], tuple["InputFile | None", Upstream]]

# A generated image stands where a file would in a reference list: ``generated:character:maya``.
GENERATED = "generated:"


def _pending(node: str, frame: str | None, aspect: str | None) -> tuple[InputFile | None, Upstream]:
    """Outputs for validation: nothing exists yet, every upstream output is a placeholder."""
    return None, Upstream(node, JobId(node), "", frame)


def frame_label(frame: str) -> str:
    """``last`` → "last frame", ``2.5`` → "frame at 2.5 s": how a frame reference is named."""
    return f"{frame} frame" if frame in ("last", "first") else f"frame at {frame} s"


def frame_name(shot_id: str, frame: str) -> str:
    """The name a frame reference goes by (never a valid @name, so it cannot clash with one)."""
    return f"{shot_id} ({frame_label(frame)})"


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


def _named(sb: Storyboard, texts: tuple[str, ...], refs: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    ordered: list[str] = []
    for text in texts:
        for match in MENTION.finditer(text):
            name = match.group(1)
            if name and name not in ordered:
                ordered.append(name)
    ordered += [name for name in refs if name not in ordered]
    result = []
    for name in ordered:
        character, asset = sb.characters.get(name), sb.assets.get(name)
        made = (character.generate if character else None) or (asset.generate if asset else None)
        if made is not None:
            result.append((name, (GENERATED + made.node,)))
        elif character is not None:
            result.append((name, character.images))
        elif asset is not None and asset.kind == "image":
            result.append((name, (asset.source,)))
    return result


def reference_names(sb: Storyboard, shot: Shot) -> list[tuple[str, tuple[str, ...]]]:
    """The shot's reference images in SPEC order: each character or image asset at its first
    mention (prompt, then multi_prompt segments), then ``refs`` not already mentioned.
    Returns (name, image sources) pairs; a character contributes all its images, consecutively; a
    generated one its one image, as ``generated:<node>``. (A ``continue_from`` frame comes before all
    of these: see :func:`shot_spec`.)"""
    return _named(sb, (shot.prompt, *(s.prompt for s in shot.multi_prompt)), shot.refs)


def image_reference_names(sb: Storyboard, made: Generate) -> list[tuple[str, tuple[str, ...]]]:
    """A generated image's references: those its prompt mentions, then its ``refs``."""
    return _named(sb, (made.prompt,), made.refs)


def _written(source: str) -> tuple[Path, str]:
    """Digests for validation, before anything is hashed: the source itself stands in for the file."""
    return Path(source), source


class _Refs:
    """Collects what a spec references: local files by content hash, and other renders' outputs."""

    def __init__(self, digests: Digests, outputs: Outputs, aspect: str | None) -> None:
        self.digests, self.outputs, self.aspect = digests, outputs, aspect
        self.files: dict[str, InputFile] = {}
        self.upstream: list[Upstream] = []

    def __call__(self, source: str, kind: str, name: str) -> str:
        if is_url(source):
            return source
        if source.startswith(GENERATED):
            return self.output(source[len(GENERATED):], None, name)
        path, digest = self.digests(source)
        self.files[digest] = InputFile(digest, path, kind, name)
        return file_ref(digest)

    def output(self, node: str, frame: str | None, name: str) -> str:
        found, upstream = self.outputs(node, frame, self.aspect)
        if found is None:
            self.upstream.append(upstream)
            return placeholder(upstream.key, frame)
        file = InputFile(found.sha256, found.path, "image", name)
        self.files[file.sha256] = file
        self.upstream.append(Upstream(upstream.node, upstream.job, upstream.key, frame, file.sha256, upstream.held_by))
        return file_ref(file.sha256)

    def references(self, sb: Storyboard, named: list[tuple[str, tuple[str, ...]]]) -> list[Reference]:
        out = []
        for name, images in named:
            kind = "character" if name in sb.characters else "image"
            entity = sb.characters.get(name) or sb.assets.get(name)
            out.append(Reference(name, kind, tuple(self(src, "image", name) for src in images),
                                 getattr(entity, "description", "")))
        return out


def shot_spec(sb: Storyboard, shot: Shot, aspect: str | None = None,
              digests: Digests = _written, take: int = 1,
              outputs: Outputs = _pending) -> tuple[ShotSpec, dict[str, InputFile], tuple[Upstream, ...]]:
    """The provider-neutral shot, the local files it uses (by sha256) and the other renders it is
    compiled from. A ``continue_from`` frame is the first reference (Figure 1), and the prompt opens
    with "Start from <it>." so every model that numbers its references is told what it is."""
    refs = _Refs(digests, outputs, aspect)
    references = []
    lead: Prompt = ()
    if shot.continue_from:
        name = frame_name(shot.continue_from, shot.frame)
        image = refs.output(shot.continue_from, shot.frame, name)
        references.append(Reference(name, "frame", (image,), ""))
        lead = ("Start from ", Mention(name), ". ")
    references += refs.references(sb, reference_names(sb, shot))
    video = refs(sb.assets[shot.video].source, "video", shot.video) if shot.video else None
    spec = ShotSpec(
        shot=shot.id,
        prompt=(*lead, *prompt_parts(shot.prompt)),
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
    return spec, refs.files, tuple(refs.upstream)


def image_size(made: Generate, model: Model) -> tuple[int, int] | None:
    """The size a generated image is asked for: its own, else the model's default; None when the model
    picks its own size."""
    if model.limit("image_size", "fixed"):
        return None
    if made.size:
        return made.size
    default = model.limit("default_size")
    if not default:
        return None
    width, height = str(default).split("x")
    return int(width), int(height)


def image_spec(sb: Storyboard, made: Generate, model: Model | None, digests: Digests = _written, take: int = 1,
               outputs: Outputs = _pending) -> tuple[ImageSpec, dict[str, InputFile], tuple[Upstream, ...]]:
    """The provider-neutral image, the local files it uses and the other renders it is compiled from."""
    refs = _Refs(digests, outputs, None)
    references = refs.references(sb, image_reference_names(sb, made))
    owner = sb.characters.get(made.owner) if made.section == "characters" else sb.assets.get(made.owner)
    size = image_size(made, model) if model is not None else made.size
    spec = ImageSpec(
        name=made.node,
        subject=getattr(owner, "description", ""),
        prompt=prompt_parts(made.prompt),
        references=tuple(references),
        width=size[0] if size else None,
        height=size[1] if size else None,
        take=take,
    )
    return spec, refs.files, tuple(refs.upstream)


def request_format(model: Model) -> Any:
    """The host's compiler for the request format its offer of the model speaks (found through the
    plugin registry, so the core imports no backend)."""
    return get_plugin(model.backend).compilers[model.compiler]


def compiled_prompts(sb: Storyboard, shot: Shot, model: Model) -> list[str]:
    """The prompt and each segment prompt as the model will read them (for length limits)."""
    spec, _, _ = shot_spec(sb, shot)
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
                 variant: str = "", take: int = 1, outputs: Outputs = _pending) -> RenderJob:
    """The shot as its host runs it. The host is part of the render key (as ``backend``, and through
    its endpoint and request format), so moving a shot to another host renders it again. A shot whose
    upstream output does not exist yet compiles *provisionally* (see :class:`~reelmake.jobs.Upstream`)."""
    model = get_model(shot.model, shot.backend)
    if model is None:
        raise KeyError(f"model {shot.model!r} is not offered by {shot.backend!r}")
    aspect = aspect_ratio or shot.aspect_ratio
    spec, files, upstream = shot_spec(sb, shot, aspect, digests, take, outputs)
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
        upstream=upstream,
    )


def _ratio(size: tuple[int, int] | None) -> str:
    if size is None:
        return ""
    from math import gcd

    divisor = gcd(*size)
    return f"{size[0] // divisor}:{size[1] // divisor}"


def compile_image(sb: Storyboard, made: Generate, digests: Digests, *, variant: str = "", take: int = 1,
                  outputs: Outputs = _pending) -> RenderJob:
    """A generated image as its host runs it: one image per render, priced per image. Its job id is its
    node id (``character:maya``); ``aspect_ratio`` is its size's ratio ("" when the model picks)."""
    model = get_model(made.model, made.backend)
    if model is None or model.kind != "image":
        raise KeyError(f"image model {made.model!r} is not offered by {made.backend!r}")
    spec, files, upstream = image_spec(sb, made, model, digests, take, outputs)
    request = request_format(model).request(spec, model, sb.backends.get(made.backend, {}))
    endpoint = model.image_endpoint(has_refs=bool(spec.references))
    size = (spec.width, spec.height) if spec.width and spec.height else None
    return RenderJob(
        id=JobId(made.node, variant, None, take),
        key=render_key(made.backend, model.id, endpoint, request, take),
        backend=made.backend,
        model=model.id,
        endpoint=endpoint,
        request=request,
        files=files,
        duration=0.0,
        aspect_ratio=_ratio(size),
        sound=False,
        mode="image",
        cost=image_price(model),
        settings=dict(sb.backends.get(made.backend, {})),
        kind="image",
        upstream=upstream,
    )


def native_aspects(sb: Storyboard) -> list[str]:
    """Extra aspect ratios rendered natively for `reframe: render` deliverables."""
    return [d.aspect_ratio for d in sb.deliverables if d.reframe == "render"]


def shot_aspects(sb: Storyboard, shot: Shot) -> list[str]:
    """The ratios a shot renders at: its own, then each a `reframe: render` deliverable asks for."""
    return list(dict.fromkeys([shot.aspect_ratio, *native_aspects(sb)]))
