"""The export is the cut: an exported file, read back, must place every shot where the cut did.

Each format may draw a transition its own way (OTIO and FCPXML put the cut in the middle of the
overlap; an EDL at its start), so what is compared is what an editor sees: the frames of each shot
on the timeline, its handles under transitions included. Where a format lost a transition (FCPXML),
the two shots must meet at the cut point the transition was centred on.
"""

from __future__ import annotations

from dataclasses import dataclass

import opentimelineio as otio


@dataclass(frozen=True)
class Span:
    """A shot on the timeline, in frames: ``start``/``end`` include the handles under transitions."""

    name: str
    start: int
    end: int


def spans(timeline: otio.schema.Timeline) -> tuple[list[Span], list[bool], int]:
    """The shots of ``timeline``'s first video track, whether a transition joins each to the one before,
    and the track's length, all in frames of the timeline's rate."""
    track = next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)
    rate = track.duration().rate

    def frames(time: otio.opentime.RationalTime) -> int:
        return round(time.rescaled_to(rate).value)

    out: list[Span] = []
    joined: list[bool] = []
    items = list(track)
    for index, item in enumerate(items):
        if not isinstance(item, otio.schema.Clip):
            continue
        placed = track.range_of_child_at_index(index)
        before = items[index - 1] if index else None
        after = items[index + 1] if index + 1 < len(items) else None
        start, end = frames(placed.start_time), frames(placed.end_time_exclusive())
        if isinstance(before, otio.schema.Transition):
            start -= frames(before.in_offset)
        if isinstance(after, otio.schema.Transition):
            end += frames(after.out_offset)
        out.append(Span(item.name, start, end))
        joined.append(isinstance(before, otio.schema.Transition))
    return out, joined, frames(track.duration())


def differences(timeline: otio.schema.Timeline, expected: list[Span], total: int) -> list[str]:
    """How ``timeline`` differs from the cut (``expected`` spans with their overlaps, ``total`` frames);
    empty when it is the cut."""
    found, joined, length = spans(timeline)
    problems = []
    if [s.name for s in found] != [s.name for s in expected]:
        return [f"shots {[s.name for s in found]} instead of {[s.name for s in expected]}"]
    if length != total:
        problems.append(f"{length} frames long instead of {total}")
    for index, (got, want) in enumerate(zip(found, expected, strict=True)):
        start, end = want.start, want.end
        if index and not joined[index] and want.start < expected[index - 1].end:
            start += (expected[index - 1].end - want.start) // 2  # transition lost: the cut point
        if index + 1 < len(expected) and not joined[index + 1] and expected[index + 1].start < want.end:
            end = expected[index + 1].start + (want.end - expected[index + 1].start) // 2
        if (got.start, got.end) != (start, end):
            problems.append(f"{got.name} at frames {got.start}-{got.end} instead of {start}-{end}")
    return problems
