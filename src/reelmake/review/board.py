"""The contact sheet as data: every shot with its compiled prompt, model, cost, status and takes, the
decisions on them and the latest cut of each deliverable. The page (live or exported) draws this.

Media are addressed through ``Links`` so the live server (``/clip/<key>.mp4``) and a static export
(``clips/lace-up-take2.mp4``) share one board.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import money_json
from ..engine.decisions import shot_takes
from ..errors import MediaError
from ..fsutil import atomic_path
from ..media import run_ffmpeg

log = logging.getLogger("reelmake.review")


@dataclass(frozen=True)
class Links:
    """Where the page finds a take's clip and poster, and a deliverable's video and poster."""

    clip: Callable[[str, str, int, str], str]  # (decision name, shot, take, render key) → URL
    poster: Callable[[str, str, int, str], str]
    cut: Callable[[str, str, str], str]  # (variant, deliverable, suffix ".mp4" | ".jpg") → URL


def _prompt(request: Any) -> str:
    """The prompt as the model reads it (every request format names it ``prompt``)."""
    return str(request.get("prompt", "")) if hasattr(request, "get") else ""


def _segments(request: Any) -> list[str]:
    if not hasattr(request, "get"):
        return []
    segments = request.get("multi_prompt") or request.get("segments") or []
    return [str(s.get("prompt", "")) for s in segments if isinstance(s, dict)]


def board(project: Any, links: Links) -> dict[str, Any]:
    """The whole contact sheet as JSON-able data (one entry per shot of every variant, in cut order)."""
    statuses = {row.key: row for row in project.status()}
    shots = []
    storyboards = {v.id: v.storyboard for v in project.campaign.variants}
    for item in shot_takes(project):
        sb = storyboards[item.variant]
        made = sb.generated.get(item.shot)  # a generated image is reviewed (and approved) like a shot
        shot = None if made else sb.shot(item.shot)
        newest = max(item.jobs)
        job = item.jobs[newest]
        approved = item.approval.approved if item.approval else None
        rejected = item.rejected
        takes = []
        for number, take_job in item.jobs.items():
            state = statuses.get(take_job.key)
            rendered = item.rendered[number]
            takes.append({
                "take": number,
                "key": take_job.key,
                "status": "rendered" if rendered else (state.state if state else "pending"),
                "error": state.error if state and not rendered else None,
                "clip": links.clip(item.name, item.shot, number, take_job.key) if rendered else None,
                "poster": links.poster(item.name, item.shot, number, take_job.key) if rendered else None,
                "approved": approved == number,
                "rejected": rejected.get(number),
            })
        in_cut = approved if approved is not None else max((t["take"] for t in takes if t["clip"]), default=None)
        counts = {s: sum(1 for t in takes if t["status"] == s) for s in ("rendered", "in_flight", "failed",
                                                                         "ambiguous", "pending")}
        shots.append({
            "name": item.name,
            "variant": item.variant,
            "shot": item.shot,
            "prompt": _prompt(job.request),
            "segments": _segments(job.request),
            "caption": shot.caption if shot else None,
            "kind": "image" if made else "shot",
            "backend": job.backend,
            "model": job.model,
            "duration": job.duration,
            "aspect_ratio": job.aspect_ratio,
            "cost": money_json(job.cost),
            "status": next((s for s in ("in_flight", "ambiguous", "failed", "pending") if counts[s]), "rendered"),
            "counts": counts,
            "takes": takes,
            "in_cut": in_cut,
            "approval": item.approval.to_json() if item.approval else None,
        })
    return {
        "title": _title(project),
        "file": project.campaign.path.name,
        "shots": shots,
        "approved": sum(1 for s in shots if s["approval"] and s["approval"]["approved"] is not None
                        and not s["approval"]["superseded"]),
        "cuts": cuts(project, links),
    }


def _title(project: Any) -> str:
    campaign = project.campaign
    return campaign.name if campaign.is_campaign else campaign.storyboard.title


def cuts(project: Any, links: Links) -> list[dict[str, Any]]:
    """The latest cut of each deliverable of each variant, as its report describes it."""
    out = []
    for variant in project.campaign.variants:
        folder = project.out_dir(variant)
        for deliverable in variant.storyboard.deliverables:
            video = folder / f"{deliverable.name}.mp4"
            report = video.with_suffix(".json")
            if not (video.is_file() and report.is_file()):
                continue
            try:
                data = json.loads(report.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            poster = video.with_suffix(".jpg")
            out.append({
                "variant": variant.id,
                "name": deliverable.name,
                "video": links.cut(variant.id, deliverable.name, ".mp4"),
                "poster": links.cut(variant.id, deliverable.name, ".jpg") if poster.is_file() else None,
                "duration": data.get("duration"),
                "size": f"{data.get('width')}×{data.get('height')}",
                "shots": [{"shot": s.get("shot_id"), "take": s.get("take"), "status": s.get("status")}
                          for s in data.get("shots", []) if isinstance(s, dict)],
            })
    return out


def cut_file(project: Any, variant: str, name: str, suffix: str) -> Path | None:
    """A deliverable's video or poster, if the storyboard has that deliverable and it was cut."""
    try:
        found = project.campaign.variant(variant)
    except KeyError:
        return None
    if suffix not in (".mp4", ".jpg") or name not in {d.name for d in found.storyboard.deliverables}:
        return None
    path = project.out_dir(found) / f"{name}{suffix}"
    return path if path.is_file() else None


def poster(project: Any, key: str) -> Path | None:
    """A frame from the middle of the clip ``key`` (made once, kept in the workspace), None without a clip."""
    entry = project.workspace.clips.get(key)
    if entry is None:
        return None
    target = project.workspace.review_dir / "posters" / f"{key}.jpg"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    duration = _duration(entry.meta)
    try:
        with atomic_path(target, suffix=".jpg") as tmp:
            run_ffmpeg(["-ss", f"{duration / 2:.3f}", "-i", str(entry.clip), "-frames:v", "1", "-vf", "scale=640:-2",
                        "-q:v", "4", "-update", "1", "-f", "image2", str(tmp)], what=f"poster for clip {key[:12]}")
    except MediaError as exc:
        log.warning("no poster for clip %s: %s", key[:12], exc)
        return None
    return target


def _duration(meta: Any) -> float:
    if isinstance(meta, dict) and meta.get("kind") == "image":
        return 0.0  # a still: its one frame
    request = meta.get("request") if isinstance(meta, dict) else None
    try:
        return max(0.0, float(request.get("duration", 1.0))) if isinstance(request, dict) else 1.0
    except (TypeError, ValueError):
        return 1.0


def fingerprint(project: Any) -> str:
    """Changes whenever something the page shows may have: the storyboard (or campaign and its template),
    the lock, the journal (tasks in flight), the cut reports."""
    paths = [project.campaign.path, project.lock.path, project.workspace.root / "journal.jsonl"]
    if project.campaign.template is not None:
        paths.append(project.campaign.template)
    for variant in project.campaign.variants:
        paths += [project.out_dir(variant) / f"{d.name}.json" for d in variant.storyboard.deliverables]
    parts = []
    for path in paths:
        try:
            st = os.stat(path)
            parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append("-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
