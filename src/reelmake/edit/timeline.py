"""Timeline arithmetic: where every shot, transition, caption and bed lands. Pure, no ffmpeg.

All positions are whole frames of the deliverable's frame rate, so durations add up exactly:
output frames = Σ trimmed shot frames − Σ transition frames.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def frames(seconds: float, fps: float) -> int:
    """Seconds → whole frames at ``fps`` (nearest; at least one frame for a positive length)."""
    n = round(seconds * fps)
    return max(n, 1) if seconds > 0 else 0


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
    fps = fps or spec.deliverable.fps
    spans: list[tuple[str, int, int, int]] = []
    cursor = 0
    for index, clip in enumerate(spec.clips):
        n = frames(clip.length, fps)
        t = transition_frames(clip, fps) if index else 0
        start = cursor - t
        spans.append((clip.shot_id, start, start + n, t))
        cursor = start + n
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


def transition_frames(clip: ClipSpec, fps: float) -> int:
    """Frames the transition into ``clip`` overlaps the previous clip (0 for a hard cut)."""
    if clip.transition is None or clip.transition.duration <= 0:
        return 0
    return frames(clip.transition.duration, fps)


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


def groups(spec: CutSpec) -> list[list[int]]:
    """Clip indices split at hard cuts: each group is a run joined by transitions."""
    out: list[list[int]] = []
    for index, clip in enumerate(spec.clips):
        if index and transition_frames(clip, spec.deliverable.fps):
            out[-1].append(index)
        else:
            out.append([index])
    return out
