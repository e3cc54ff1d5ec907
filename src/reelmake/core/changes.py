"""Why a render is stale, in the storyboard's words: the lock's entry for a job against the job as it
compiles now (fields that changed, references by name, the shot it continues from). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..jobs import FILE_REF_PREFIX, RenderJob, placeholder
from .compile import frame_name

REFERENCE_FIELDS = ("images", "video", "reference_images")


def _refs_by_name(request: Mapping[str, Any], inputs: Mapping[str, str]) -> dict[str, set[str]]:
    """name → content hashes (or URLs) of the references a request uses."""
    out: dict[str, set[str]] = {}
    for name in REFERENCE_FIELDS:
        values = request.get(name)
        for value in values if isinstance(values, list) else [values] if values else []:
            if not isinstance(value, str):
                continue
            digest = value.removeprefix(FILE_REF_PREFIX)
            out.setdefault(inputs.get(digest, value), set()).add(digest)
    return out


def _upstream_names(job: RenderJob) -> tuple[dict[str, str], dict[str, str]]:
    """What the job's upstream outputs are called in its request (a placeholder while pending, a content
    hash once they exist), and, for frames, which shot each continues from."""
    names: dict[str, str] = {sha: f.name for sha, f in job.files.items()}
    frames: dict[str, str] = {}
    for upstream in job.upstream:
        if upstream.frame is None:
            continue
        label = frame_name(upstream.node, upstream.frame)
        frames[label] = upstream.node
        names[placeholder(upstream.key, upstream.frame)] = label
    for upstream in job.waiting:
        if upstream.frame is None:
            names[placeholder(upstream.key, None)] = upstream.node.split(":", 1)[-1]
    return names, frames


def changed_fields(old: Mapping[str, Any], job: RenderJob) -> tuple[str, ...]:
    """Why a render is stale, in the storyboard's words: fields that changed, references by name, the
    shot it continues from ("continues from lace-up (re-rendered)").

    Another host speaks another request format, so after a host change its fields are not compared."""
    if old.get("backend") not in (None, job.backend):
        return (f"host changed ({old.get('backend')} → {job.backend})",)
    changes = [name for name in ("backend", "model") if old.get(name) != getattr(job, name)]
    old_request = old.get("request") if isinstance(old.get("request"), Mapping) else {}
    new_request = dict(job.request)
    for name in sorted(set(old_request) | set(new_request)):
        if name not in REFERENCE_FIELDS and old_request.get(name) != new_request.get(name):
            changes.append(name)
    old_inputs = old.get("inputs") if isinstance(old.get("inputs"), Mapping) else {}
    names, frames = _upstream_names(job)
    before = _refs_by_name(old_request, old_inputs)
    after = _refs_by_name(new_request, names)
    continues = []  # said first: a re-rendered shot upstream is usually the whole reason
    for name in sorted(set(before) | set(after)):
        if before.get(name) == after.get(name):
            continue
        if name in frames:
            upstream = frames[name]
            continues.append(f"continues from {upstream} (re-rendered)" if name in before else f"continues from {upstream}")
            continue
        verb = "added" if name not in before else "removed" if name not in after else "changed"
        changes.append(f"reference {name} {verb}")
    return tuple(continues + changes) or ("render key",)
