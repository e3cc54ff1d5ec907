"""Decisions on takes for people: one line per shot for `reelmake status`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def decision_lines(shots: Iterable[Any]) -> list[str]:
    """``lace-up  approved take 2 by alice at … — "the good one"; rejected take 1 ("soft focus")``, with
    ``(superseded: the shot changed since)`` when the approved clip is no longer that take."""
    shots = list(shots)
    width = max((len(s.name) for s in shots), default=4)
    lines = []
    for shot in shots:
        found = shot.approval
        parts = []
        if found.take is not None:
            text = f"approved take {found.take}"
            if found.by:
                text += f" by {found.by}"
            if found.at:
                text += f" at {found.at}"
            if found.note:
                text += f' — "{found.note}"'
            if found.superseded:
                text += " (superseded: the shot changed since; the cut uses its newest take)"
            parts.append(text)
        for take, note in sorted(shot.rejected.items()):
            parts.append(f"rejected take {take}" + (f' ("{note}")' if note else ""))
        if parts:
            lines.append(f"{shot.name:<{width}}  " + "; ".join(parts))
    return lines
