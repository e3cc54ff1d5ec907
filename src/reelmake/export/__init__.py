"""Export a deliverable's timeline for editing software: OpenTimelineIO, FCPXML or a CMX 3600 EDL.

``export_cut(spec, shots, fmt, folder)`` writes ``<deliverable>.otio|.fcpxml|.edl`` (and the SRT)
into ``folder`` through OpenTimelineIO and its adapters, then reads the file back and checks that
it is the cut: every shot at the frames the editor put it, the same length to the frame.

Knows nothing of storyboards: the engine hands it the editor's :class:`~reelmake.edit.spec.CutSpec`
and, per shot, the clip the cut used with its provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..edit import captions, check
from ..edit.report import cut_key
from ..edit.spec import CutSpec
from ..edit.timeline import place
from ..errors import MediaError, ReelmakeError, StoryboardError
from ..fsutil import atomic_path, atomic_write_text
from . import formats, media
from .build import Provenance, ShotSource, build
from .verify import Span, differences

FORMATS = tuple(formats.SUFFIXES)
MEDIA_MODES = media.MODES


@dataclass(frozen=True)
class ClipFile:
    """The clip the cut used for a shot: its file in the cache, a stable name for it beside the export
    (unique within the export folder), and what made it."""

    path: Path
    stem: str
    sha256: str | None = None
    provenance: Provenance | None = None


@dataclass
class ExportResult:
    """One exported timeline: the file, its captions, its media, and what the format could not carry."""

    deliverable: str
    format: str
    path: Path
    srt: Path | None = None
    media: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_against: str = "cut plan"  # "cut report" when the deliverable's report matched this cut

    def to_json(self) -> dict:
        return {"deliverable": self.deliverable, "format": self.format, "path": str(self.path),
                "srt": str(self.srt) if self.srt else None, "media": [str(p) for p in self.media],
                "notes": self.notes, "checked_against": self.checked_against}


def export_cut(spec: CutSpec, clips: Mapping[str, ClipFile], fmt: str, folder: Path, *, media_mode: str = "link",
               report: Path | None = None) -> ExportResult:
    """Write ``spec``'s timeline as ``fmt`` into ``folder``; ``clips`` by shot id.

    ``report``: the deliverable's cut report (``<deliverable>.json``); when it is the report of this very
    cut (same cut key), the export is checked against it, else against the editor's placement.
    Raises :class:`StoryboardError` for a format or media mode it cannot honour, :class:`MediaError`
    for a shot without a clip.
    """
    if fmt not in FORMATS:
        raise StoryboardError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if media_mode not in MEDIA_MODES:
        raise StoryboardError(f"unknown media mode {media_mode!r}; use one of {', '.join(MEDIA_MODES)}")
    missing = [c.shot_id for c in spec.clips if c.shot_id not in clips or not Path(clips[c.shot_id].path).is_file()]
    if missing:
        raise MediaError(f"{spec.title}: cannot export {spec.deliverable.name}: no clip for shot(s) "
                         f"{', '.join(missing)}. Render them first (`reelmake render`).")
    check(spec)  # what the editor would refuse to cut is not exported either
    fps = spec.deliverable.fps
    formats.check_rate(fmt, fps)
    folder = Path(folder)
    placed: list[Path] = []
    shots = {}
    for clip in spec.clips:
        source = clips[clip.shot_id]
        path = media.place(source.path, folder / "media", source.stem, media_mode, source.sha256)
        placed.append(path)
        shots[clip.shot_id] = ShotSource(media.describe(path, "video"), source.provenance)
    beds = []
    for bed in spec.beds:
        path = media.place(bed.path, folder / "media" / "audio", bed.name, media_mode, bed.sha256)
        placed.append(path)
        beds.append(media.describe(path, "audio"))

    built = build(spec, shots, beds)
    timeline, notes = formats.prepare(built, fmt)
    expected, total, against = _expected(spec, report)
    dest = folder / f"{spec.deliverable.name}{formats.SUFFIXES[fmt]}"
    with atomic_path(dest, suffix=formats.SUFFIXES[fmt]) as tmp:
        formats.write(timeline, fmt, tmp)
        problems = differences(formats.read(tmp, fmt, fps), expected, total)
        if problems:  # never hand an editor a timeline that is not the cut
            raise ReelmakeError(f"the {fmt} export of {spec.deliverable.name} read back differently from the "
                                f"{against} ({'; '.join(problems)}); nothing was written. This is a bug in "
                                "reelmake: please report it with the storyboard")
    srt = None
    if spec.deliverable.captions != "none" and captions.cues(spec):
        srt = folder / f"{spec.deliverable.name}.srt"
        atomic_write_text(srt, captions.srt(spec))
    return ExportResult(spec.deliverable.name, fmt, dest, srt, list(dict.fromkeys(placed)),
                        notes, against)


def _expected(spec: CutSpec, report: Path | None) -> tuple[list[Span], int, str]:
    """The shots' frames and the length the export must match: the cut report's when it is the report
    of this cut, else the editor's placement (what cutting now would produce)."""
    fps = spec.deliverable.fps
    if report is not None:
        try:
            data = json.loads(Path(report).read_text("utf-8"))
            if data.get("cut_key") == cut_key(spec, draft=False):
                shots = [Span(s["shot_id"], round(s["timeline_in"] * fps), round(s["timeline_out"] * fps))
                         for s in data["shots"]]
                return shots, round(data["duration"] * fps), "cut report"
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no report, or not one this reelmake reads: check against the placement
    placements = place(spec)
    return [Span(p.shot_id, p.start, p.end) for p in placements], placements[-1].end, "cut plan"


__all__ = ["FORMATS", "MEDIA_MODES", "ClipFile", "ExportResult", "Provenance", "export_cut"]
