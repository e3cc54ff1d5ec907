"""A campaign variant's rendered text → a validated storyboard, probing each reference file once.

Every variant is a full storyboard validation (schema, semantic rules, references); only ffprobe is
shared across variants, since a file's fitness for a model does not depend on which variant uses it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from . import references
from .compile import is_url, reference_names
from .errors import Problem
from .model import Shot, SoundtrackItem, Storyboard
from .storyboard import display_name, parse, project_root

_TEMPLATE_SUFFIXES = (".j2", ".jinja2", ".jinja")


def template_stem(template: Path) -> str:
    """``spot.yaml.j2`` → ``spot``: the stem every variant's storyboard name starts with."""
    name = template.name
    for suffix in _TEMPLATE_SUFFIXES:
        name = name.removesuffix(suffix)
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name or "storyboard"


def _shot_media(sb: Storyboard, shot: Shot) -> set[tuple[str, str]]:
    """The (file, model) pairs probing checks for one shot: its reference images and video."""
    sources = [src for _, group in reference_names(sb, shot) for src in group]
    if shot.video and shot.video in sb.assets:
        sources.append(sb.assets[shot.video].source)
    return {(src, shot.model) for src in sources if not is_url(src)}


def _track_media(sb: Storyboard, item: SoundtrackItem) -> set[tuple[str, str]]:
    asset = sb.assets.get(item.asset)
    return {(asset.source, "audio")} if asset else set()


class VariantValidator:
    """Validates rendered variants; probes each (file, model) pair once across the whole campaign.

    Variants share most reference files, and an ffprobe per file per variant would dominate the time
    of a large campaign; whether a file fits a model does not depend on which variant uses it. So the
    media check runs on a view of each storyboard reduced to the shots and soundtrack items that use a
    pair no earlier variant has checked.
    """

    def __init__(self, campaign: Path, filename: str, template: Path, *, backend: str | None = None,
                 check_media: bool = True) -> None:
        self.campaign, self.filename, self.template = campaign, filename, template
        self.backend, self.check_media = backend, check_media
        self.root = project_root(campaign)
        self.stem = template_stem(template)
        self.probed: set[tuple[str, str]] = set()

    def label(self, variant_id: str) -> tuple[Path, str]:
        """Where the variant's storyboard notionally lives (references resolve beside the campaign file,
        and ``stem`` is unique per variant), and the name its problems print."""
        filename = f"{self.filename}[{variant_id}] (rendered from {display_name(self.template)})"
        return self.campaign.parent / f"{self.stem}.{variant_id}.yaml", filename

    def validate(self, variant_id: str, text: str) -> tuple[Storyboard | None, list[Problem]]:
        """The variant's rendered text as a storyboard (None when invalid) and every problem found."""
        path, filename = self.label(variant_id)
        sb, problems = parse(text, path, filename=filename, root=self.root, backend=self.backend, check_media=False)
        if sb is None or not self.check_media:
            return sb, problems
        shots = tuple(shot for shot in sb.shots if not _shot_media(sb, shot) <= self.probed)
        track = tuple(item for item in sb.soundtrack if not _track_media(sb, item) <= self.probed)
        if not shots and not track:
            return sb, problems
        for shot in shots:
            self.probed |= _shot_media(sb, shot)
        for item in track:
            self.probed |= _track_media(sb, item)
        found = references.check(replace(sb, shots=shots, soundtrack=track), filename, probe_media=True)
        if not found:
            return sb, problems
        return None, sorted([*problems, *found], key=lambda p: (p.line, p.column))
