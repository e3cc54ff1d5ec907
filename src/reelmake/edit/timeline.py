"""Timeline arithmetic: where every shot, transition, caption and bed lands. Pure, no ffmpeg.

All positions are whole frames of the deliverable's frame rate. Each boundary is rounded from its
exact position in seconds (never from the previous boundary), so the cut lasts exactly
round((Σ trimmed shots − Σ transitions) × fps) frames and a rounding error never accumulates: two
0.5 s transitions at 25 fps take 13 and 12 frames, not 12 and 12 or 13 and 13.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .spec import ClipSpec, CutSpec

# Transition names ffmpeg 5.1's xfade understands (`ffmpeg -h filter=xfade`), plus the alias
# "crossfade" (= fade). The storyboard validator reuses this tuple.
TRANSITIONS: tuple[str, ...] = (
    "fade", "crossfade", "dissolve", "fadeblack", "fadewhite", "fadegrays", "distance", "pixelize",
    "wipeleft", "wiperight", "wipeup", "wipedown", "wipetl", "wipetr", "wipebl", "wipebr",
    "slideleft", "slideright", "slideup", "slidedown",
    "smoothleft", "smoothright", "smoothup", "smoothdown",
    "circlecrop", "rectcrop", "circleopen", "circleclose", "radial",
    "vertopen", "vertclose", "horzopen", "horzclose",
    "diagtl", "diagtr", "diagbl", "diagbr", "hlslice", "hrslice", "vuslice", "vdslice",
    "hblur", "squeezeh", "squeezev", "zoomin",
)
_ALIASES = {"crossfade": "fade"}


def xfade_name(name: str) -> str:
    """The xfade transition name for a storyboard transition type."""
    return _ALIASES.get(name, name)


def exact(value: float) -> Fraction:
    """A storyboard number (seconds, fps) as the exact decimal it was written as."""
    return Fraction(repr(float(value)))


def fps_fraction(fps: float) -> Fraction:
    """The frame rate as an exact fraction; NTSC-style rates (23.976, 29.97, 59.94) as n/1001."""
    for num in (24000, 30000, 60000):
        if abs(fps - num / 1001) < 1e-3:
            return Fraction(num, 1001)
    return exact(fps)


def to_frames(seconds: Fraction, fps: Fraction) -> int:
    """The frame boundary nearest ``seconds``. Halves go to the even frame, so boundaries that fall
    on half frames alternate up and down instead of all moving one way (core/rules.py agrees)."""
    return round(seconds * fps)


@dataclass(frozen=True)
class Placement:
    """One shot on the deliverable's timeline, in frames.

    ``start``/``end``: first frame and one past the last frame the clip occupies (transitions overlap
    neighbours). ``cue_start``/``cue_end``: the span its caption is shown, split at the middle of each
    transition so cues never overlap.
    """

    shot_id: str
    start: int
    end: int
    transition_frames: int  # overlap with the previous clip
    cue_start: int
    cue_end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


def place(spec: CutSpec, fps: float | None = None) -> list[Placement]:
    """Lay the clips of ``spec`` on the timeline (frames of ``fps``, default the deliverable's)."""
    rate = fps_fraction(fps or spec.deliverable.fps)
    spans: list[tuple[str, int, int, int]] = []
    cursor = Fraction(0)  # exact end of the previous clip, in seconds
    previous_end = 0
    for index, clip in enumerate(spec.clips):
        overlap = exact(clip.transition.duration) if index and clip.transition else Fraction(0)
        start_s = cursor - overlap
        cursor = start_s + clip_length(clip)
        start, end = to_frames(start_s, rate), to_frames(cursor, rate)
        spans.append((clip.shot_id, start, end, previous_end - start if index else 0))
        previous_end = end
    out: list[Placement] = []
    for index, (shot_id, start, end, t) in enumerate(spans):
        cue_start = start + t // 2 if index else start
        if index + 1 < len(spans):
            _, next_start, _, next_t = spans[index + 1]
            cue_end = next_start + next_t // 2
        else:
            cue_end = end
        out.append(Placement(shot_id, start, end, t, cue_start, cue_end))
    return out


def clip_length(clip: ClipSpec) -> Fraction:
    """Exact seconds ``clip`` occupies before transitions overlap it."""
    if clip.trim:
        return exact(clip.trim[1]) - exact(clip.trim[0])
    return exact(clip.duration)


def total_frames(spec: CutSpec, fps: float | None = None) -> int:
    placements = place(spec, fps)
    return placements[-1].end if placements else 0


def timeline(spec: CutSpec) -> list[tuple[str, float, float]]:
    """``(shot_id, in, out)`` in seconds on the deliverable's timeline, in cut order.

    ``in`` is the clip's first frame, ``out`` the end of its last frame; with a transition the two
    clips it joins overlap by its duration.
    """
    fps = spec.deliverable.fps
    return [(p.shot_id, p.start / fps, p.end / fps) for p in place(spec)]


def bed_start(spec: CutSpec, bed_index: int) -> float:
    """Timeline position in seconds where soundtrack item ``bed_index`` starts."""
    bed = spec.beds[bed_index]
    if bed.at is None:
        return max(0.0, (bed.start or 0.0) + bed.offset)
    for shot_id, start, _ in timeline(spec):
        if shot_id == bed.at:
            return max(0.0, start + bed.offset)
    raise KeyError(f"soundtrack item {bed.name!r}: shot {bed.at!r} is not in this cut")


def groups(spec: CutSpec, fps: float | None = None) -> list[list[int]]:
    """Clip indices split at hard cuts: each group is a run joined by transitions."""
    out: list[list[int]] = []
    for index, p in enumerate(place(spec, fps)):
        if index and p.transition_frames:
            out[-1].append(index)
        else:
            out.append([index])
    return out
