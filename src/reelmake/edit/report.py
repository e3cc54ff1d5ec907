"""The cut report (``<deliverable>.json``) and the cut key that makes re-cuts incremental."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..fsutil import atomic_write_text, sha256_file
from .encode import EDITOR_VERSION
from .spec import CutSpec


def cut_key(spec: CutSpec, *, draft: bool) -> str:
    """Hash of everything that determines a deliverable's bytes (never paths or mtimes)."""
    clips = [
        {
            **({"take": c.take} if c.take is not None else {}),
            "shot": c.shot_id,
            "sha256": c.sha256 if c.path is not None else None,
            "duration": c.duration,
            "trim": list(c.trim) if c.trim else None,
            "transition": [c.transition.type, c.transition.duration] if c.transition else None,
            "caption": c.caption,
            "status": c.status if c.path is None else "rendered",
        }
        for c in spec.clips
    ]
    beds = [{k: v for k, v in asdict(b).items() if k != "path"} for b in spec.beds]
    blob = {
        "editor": EDITOR_VERSION,
        "clips": clips,
        "beds": beds,
        "mix": asdict(spec.mix),
        "deliverable": asdict(spec.deliverable),
        "draft": draft,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


@dataclass
class ShotReport:
    shot_id: str
    timeline_in: float
    timeline_out: float
    status: str  # rendered | slate:<status>
    video: str = ""  # copy | smart-cut | encode: how its own frames reached the cut
    decision: str = ""  # the same in words, with the reason
    take: int | None = None  # the take of the shot this cut uses (None on a slate)


@dataclass
class CutReport:
    """What :func:`reelmake.edit.cut` produced; saved as ``<deliverable>.json`` beside the video."""

    deliverable: str
    path: Path
    duration: float
    width: int
    height: int
    fps: float
    video_codec: str
    audio_codec: str
    size_bytes: int
    sha256: str
    loudness: float | None  # integrated LUFS of the output, None when silent
    true_peak: float | None  # dBTP of the output
    normalization: str | None  # linear (a plain gain) | limited (gain + true-peak limiter); None when silent
    shots: list[ShotReport]
    cut_key: str
    draft: bool = False
    poster: Path | None = None
    srt: Path | None = None
    vtt: Path | None = None
    built: list[str] = field(default_factory=list)  # shots whose intermediate was encoded this run
    reused: bool = False  # the existing output was up to date and left untouched

    @property
    def report_path(self) -> Path:
        return report_path(self.path)

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("path", "poster", "srt", "vtt"):
            data[key] = Path(data[key]).name if data[key] else None
        data.pop("reused")
        data.pop("built")
        return data

    @classmethod
    def from_json(cls, data: dict, out_path: Path) -> CutReport:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["path"] = out_path
        for key in ("poster", "srt", "vtt"):
            values[key] = out_path.parent / values[key] if values.get(key) else None
        values["shots"] = [ShotReport(**s) for s in values.get("shots", [])]
        return cls(**values)

    def save(self) -> Path:
        atomic_write_text(self.report_path, json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        return self.report_path


def report_path(out_path: Path) -> Path:
    return Path(out_path).with_suffix(".json")


def current(out_path: Path, key: str) -> CutReport | None:
    """The saved report if ``out_path`` is exactly what ``key`` would produce, else None."""
    path = report_path(out_path)
    if not (out_path.is_file() and path.is_file()):
        return None
    try:
        report = CutReport.from_json(json.loads(path.read_text("utf-8")), Path(out_path))
    except (ValueError, TypeError, KeyError):
        return None  # unreadable or older report: cut again
    if report.cut_key != key or out_path.stat().st_size != report.size_bytes:
        return None
    if sha256_file(out_path) != report.sha256:
        return None
    for sidecar in (report.poster, report.srt, report.vtt):
        if sidecar is not None and not sidecar.is_file():
            return None
    report.reused = True
    return report
