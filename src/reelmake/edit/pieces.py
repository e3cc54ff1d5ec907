"""Which frames of the cut are stream-copied and which are encoded: the piece list. Pure, no ffmpeg.

The timeline is cut into pieces joined by the concat demuxer, each frame of the deliverable in
exactly one piece:

    clip a           transition a→b        clip b
    |copy GOPs|enc|  |blend: a's tail × b's head|  |enc|copy GOPs|enc|
                 ^ a re-encoded GOP tail           ^ smart cut around b's trim points

A clip already in the deliverable's format is stream-copied GOP by GOP; only the frames between a
trim point (or a transition) and the nearest keyframe inside it are re-encoded (a smart cut). A
transition encodes its overlap alone. Any other clip (another format, a burned caption, a slate) is
encoded once, without the frames its transitions take.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sources import SourceFacts
from .timeline import Placement


@dataclass(frozen=True)
class Span:
    """Frames ``[start, end)`` of clip ``clip``, counted from its first frame after the trim."""

    clip: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Copy:
    """Source frames ``[start, end)`` of clip ``clip`` (whole GOPs), stream-copied."""

    clip: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Encode:
    span: Span

    @property
    def frames(self) -> int:
        return self.span.frames


@dataclass(frozen=True)
class Blend:
    """A transition: the last frames of one clip (``out``) dissolving into the first of the next."""

    out: Span
    into: Span
    transition: str  # an xfade name

    @property
    def frames(self) -> int:
        return self.into.frames


Piece = Copy | Encode | Blend


@dataclass(frozen=True)
class Decision:
    """How one shot's own frames (transitions aside) reach the deliverable, for the log and report."""

    shot_id: str
    mode: str  # copy | smart-cut | encode
    reason: str
    copied: int = 0  # frames stream-copied
    encoded: int = 0  # frames encoded outside transitions

    def describe(self) -> str:
        if self.mode == "copy" and not self.copied:
            return f"no frames of its own ({self.reason})"
        if self.mode == "copy":
            return f"stream copy of {self.copied} frames ({self.reason})"
        if self.mode == "smart-cut":
            return (f"smart cut: {self.copied} frames stream-copied, {self.encoded} re-encoded around the "
                    f"cut points ({self.reason})")
        return f"re-encoded, {self.encoded} frames ({self.reason})"


def plan(placements: list[Placement], trims: list[int], facts: list[SourceFacts | None],
         encode_reasons: list[str | None], transitions: list[str | None]) -> tuple[list[Piece], list[Decision]]:
    """The pieces of the timeline in order, and each shot's decision.

    ``trims``: each clip's first source frame; ``facts``: probed clips (None for slates);
    ``encode_reasons``: why a clip must be encoded (another format, a burned caption, a slate), None
    when it may be copied; ``transitions``: the xfade name into each clip (None for a hard cut)."""
    pieces: list[Piece] = []
    decisions = []
    for i, p in enumerate(placements):
        t_in = p.transition_frames if i else 0
        t_out = placements[i + 1].transition_frames if i + 1 < len(placements) else 0
        if t_in:
            pieces.append(Blend(Span(i - 1, placements[i - 1].frames - t_in, placements[i - 1].frames),
                                Span(i, 0, t_in), transitions[i] or "fade"))
        own, decision = _clip(p.shot_id, Span(i, t_in, p.frames - t_out), trims[i], facts[i], encode_reasons[i])
        pieces += own
        decisions.append(decision)
    return pieces, decisions


def _clip(shot_id: str, span: Span, trim: int, found: SourceFacts | None,
          reason: str | None) -> tuple[list[Piece], Decision]:
    needed = trim + span.end
    if reason is None and found is not None and found.frames < needed:
        reason = f"{found.frames} frames, {needed} needed"
    if reason is not None or found is None:
        pieces: list[Piece] = [Encode(span)] if span.frames else []
        return pieces, Decision(shot_id, "encode", reason or "not probed", encoded=span.frames)
    if not span.frames:
        return [], Decision(shot_id, "copy", "all of them are in its transitions")
    found_span = found.copy_span(trim + span.start, trim + span.end)
    if found_span is None:
        return [Encode(span)], Decision(shot_id, "encode", "no whole GOP between its cut points",
                                        encoded=span.frames)
    start, end = found_span
    pieces = []
    if start > trim + span.start:
        pieces.append(Encode(Span(span.clip, span.start, start - trim)))
    pieces.append(Copy(span.clip, start, end))
    if end < trim + span.end:
        pieces.append(Encode(Span(span.clip, end - trim, span.end)))
    copied = end - start
    if copied == span.frames:
        return pieces, Decision(shot_id, "copy", "in the deliverable's format", copied=copied)
    return pieces, Decision(shot_id, "smart-cut", "in the deliverable's format", copied=copied,
                            encoded=span.frames - copied)
