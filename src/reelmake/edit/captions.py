"""Captions: SRT/WebVTT sidecars at the timeline's cue times, and the drawtext filter that burns them.

User text never enters the filter graph: it is written to a file that drawtext reads with
``textfile=`` and ``expansion=none``, so quotes, colons, ``%{…}`` and backslashes render literally.
The file's path is an option value like any other, escaped by ffmpeg-python.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

from ..fsutil import atomic_write_text
from .encode import font_file
from .spec import CutSpec
from .timeline import place

# Title-safe area: 10% margin on every side (EBU R 95 title-safe is 90% of the picture).
SAFE_MARGIN = 0.10


def cues(spec: CutSpec) -> list[tuple[float, float, str]]:
    """``(start, end, text)`` in seconds for each captioned shot, split mid-transition."""
    fps = spec.deliverable.fps
    out = []
    for clip, p in zip(spec.clips, place(spec), strict=True):
        if clip.caption and clip.caption.strip():
            out.append((p.cue_start / fps, p.cue_end / fps, clip.caption.strip()))
    return out


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _lines(text: str) -> list[str]:
    # A blank line ends a cue in both formats, so keep only non-empty lines.
    return [line.strip() for line in text.splitlines() if line.strip()]


def _srt_line(line: str) -> str:
    # A line holding "-->" is a timing line to SRT readers: a caption could forge cues. Non-breaking
    # hyphens (U+2011) look the same on screen and are not the arrow.
    return line.replace("-->", "\u2011\u2011>")


def srt(spec: CutSpec) -> str:
    """The SRT sidecar for ``spec``."""
    blocks = []
    for number, (start, end, text) in enumerate(cues(spec), 1):
        body = "\n".join(_srt_line(line) for line in _lines(text))
        blocks.append(f"{number}\n{_stamp(start, ',')} --> {_stamp(end, ',')}\n{body}\n")
    return "\n".join(blocks)


def vtt(spec: CutSpec) -> str:
    """The WebVTT sidecar for ``spec`` (text escaped: WebVTT cue text is markup, and "-->" becomes "--&gt;")."""
    blocks = ["WEBVTT\n"]
    for start, end, text in cues(spec):
        body = "\n".join(
            line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for line in _lines(text)
        )
        blocks.append(f"{_stamp(start, '.')} --> {_stamp(end, '.')}\n{body}\n")
    return "\n".join(blocks)


def write_sidecars(spec: CutSpec, out_path: Path) -> tuple[Path | None, Path | None]:
    """Write ``.srt`` and ``.vtt`` beside ``out_path`` (or remove stale ones when captions are off)."""
    srt_path, vtt_path = out_path.with_suffix(".srt"), out_path.with_suffix(".vtt")
    if spec.deliverable.captions == "none":
        for stale in (srt_path, vtt_path):
            stale.unlink(missing_ok=True)
        return None, None
    atomic_write_text(srt_path, srt(spec))
    atomic_write_text(vtt_path, vtt(spec))
    return srt_path, vtt_path


def font_size(width: int, height: int) -> int:
    """Caption size relative to the frame: ~1/20 of the short side's worth of a 16:9 height."""
    return max(8, round(min(width, height) * 0.055))


def wrap(text: str, width: int, height: int) -> str:
    """Break ``text`` into lines that fit the title-safe width (drawtext does not wrap)."""
    size = font_size(width, height)
    # DejaVu Sans averages ~0.55 em per glyph; 0.6 keeps long words inside the safe area.
    per_line = max(8, int(width * (1 - 2 * SAFE_MARGIN) / (0.6 * size)))
    lines = []
    for paragraph in _lines(text):
        lines.extend(textwrap.wrap(paragraph, per_line, break_long_words=True) or [""])
    return "\n".join(lines)


def text_file(text: str, directory: Path) -> Path:
    """Content-addressed file holding ``text`` for drawtext's ``textfile=``."""
    data = text.encode("utf-8")
    path = directory / f"{hashlib.sha256(data).hexdigest()[:24]}.txt"
    if not path.exists():
        atomic_write_text(path, text)
    return path


def drawtext(text: str, width: int, height: int, directory: Path, *, y: str | None = None,
             size: int | None = None, box: bool = True) -> dict[str, object]:
    """Options of a drawtext filter drawing ``text`` (wrapped) centred in the bottom of the title-safe area."""
    size = size or font_size(width, height)
    path = text_file(wrap(text, width, height), directory)
    border = max(2, size // 3) if box else 0
    # The box's border must stay inside the safe area too.
    margin_y = round(height * SAFE_MARGIN) + border
    options: dict[str, object] = {
        "fontfile": str(font_file()),
        "textfile": str(path),
        "expansion": "none",
        "fontsize": size,
        "fontcolor": "white",
        "line_spacing": max(1, size // 4),
        "x": "(w-text_w)/2",
        "y": y or f"h-{margin_y}-text_h",
    }
    if box:
        options.update(box=1, boxcolor="black@0.55", boxborderw=border)
    return options
