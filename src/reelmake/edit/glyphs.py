"""Which characters a font can draw: its TrueType/OpenType ``cmap``, read once per font file.

drawtext draws a character the font lacks as an empty box, silently; validation uses this to warn
before a caption with emoji or CJK text is burned in. Only the two cmap formats that cover Unicode
fonts are read (4: the Basic Multilingual Plane, 12: every plane); anything else counts as "unknown"
and produces no warning rather than a wrong one.
"""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

_IGNORABLE = {"\n", "\r", "\t", "\u200b", "\u200c", "\u200d", "\ufe0f", "\ufe0e"}


def _format4(data: bytes, at: int) -> set[range]:
    segments = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends = struct.unpack_from(f">{segments}H", data, at + 14)
    starts = struct.unpack_from(f">{segments}H", data, at + 16 + 2 * segments)
    return {range(start, end + 1) for start, end in zip(starts, ends, strict=True) if start != 0xFFFF}


def _format12(data: bytes, at: int) -> set[range]:
    groups = struct.unpack_from(">I", data, at + 12)[0]
    out = set()
    for i in range(groups):
        start, end, _ = struct.unpack_from(">III", data, at + 16 + 12 * i)
        out.add(range(start, end + 1))
    return out


@cache
def coverage(font: Path) -> tuple[range, ...] | None:
    """The code point ranges ``font`` maps to glyphs; None when the file cannot be read as a font."""
    try:
        data = Path(font).read_bytes()
        tables = struct.unpack_from(">H", data, 4)[0]
        cmap = None
        for i in range(tables):
            tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * i)
            if tag == b"cmap":
                cmap = offset
        if cmap is None:
            return None
        best: tuple[int, int] | None = None  # (format, absolute offset), format 12 preferred
        for i in range(struct.unpack_from(">H", data, cmap + 2)[0]):
            platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
            if (platform, encoding) not in ((3, 1), (3, 10), (0, 3), (0, 4)):
                continue
            fmt = struct.unpack_from(">H", data, cmap + offset)[0]
            if fmt in (4, 12) and (best is None or fmt > best[0]):
                best = (fmt, cmap + offset)
        if best is None:
            return None
        ranges = _format12(data, best[1]) if best[0] == 12 else _format4(data, best[1])
        return tuple(sorted(ranges, key=lambda r: r.start))
    except (OSError, struct.error, ValueError):
        return None


def missing(text: str, font: Path) -> list[str]:
    """The characters of ``text`` that ``font`` has no glyph for, in order of first appearance."""
    ranges = coverage(font)
    if ranges is None:
        return []
    out: list[str] = []
    for char in text:
        if char in _IGNORABLE or char in out or char.isspace():
            continue
        if not any(ord(char) in r for r in ranges):
            out.append(char)
    return out
