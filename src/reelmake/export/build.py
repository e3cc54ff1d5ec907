"""A deliverable's cut as an OpenTimelineIO timeline: the one model every format is written from.

Pure: the caller probes the media and says where each file will be found. Positions come from the
editor's own arithmetic (:func:`reelmake.edit.timeline.place`), so the timeline and the cut cannot
disagree:

- one video clip per shot, laid out the way editing software shows a transition: the cut sits in
  the middle of the overlap, and the frames on either side of it that the transition shows are
  handles of the two clips (the outgoing clip's tail, the incoming clip's head);
- an audio track with the shots' own sound, mirroring the video (its transitions are the editor's
  audio cross-fades), and one track per soundtrack item, trimmed to the timeline, its fades as
  transitions from and to silence, its gain as an effect;
- captions as markers spanning their cue, notes on what no format keeps as markers in red.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import opentimelineio as otio

from ..edit.captions import cues
from ..edit.spec import BedSpec, CutSpec
from ..edit.timeline import Placement, bed_start, place, xfade_name

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange

NAMESPACE = "reelmake"  # metadata key of everything reelmake writes on timelines, clips and markers
DISSOLVES = ("fade", "dissolve")  # xfade names an NLE's cross dissolve reproduces
NOTE = otio.schema.MarkerColor.RED  # something the cut does that the export does not carry
CAPTION = otio.schema.MarkerColor.YELLOW
SHOT_AUDIO = "Shot audio"


@dataclass(frozen=True)
class Provenance:
    """What made a clip: written on it as metadata, so an editor can trace any frame to its render."""

    shot_id: str
    prompt: str | None
    model: str
    backend: str
    host: str | None
    render_key: str
    cost: str  # USD as a decimal string, as everywhere in reelmake's JSON
    take: int | None = None
    approval: Mapping[str, Any] | None = None  # the lock's decision on this take (approved, by, at, note)

    def to_metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "shot": self.shot_id, "prompt": self.prompt, "model": self.model, "backend": self.backend,
            "host": self.host, "render_key": self.render_key, "cost": self.cost,
        }
        if self.take is not None:
            data["take"] = self.take
        if self.approval is not None:
            data["approval"] = dict(self.approval)
        return data


@dataclass(frozen=True)
class Media:
    """A file the timeline points at, as probed: where the NLE finds it and what it holds."""

    url: str  # file:// URL
    duration: float  # seconds
    has_audio: bool = False
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ShotSource:
    """The clip the cut used for one shot, and where it came from."""

    media: Media
    provenance: Provenance | None = None


@dataclass
class BuiltTimeline:
    """The built timeline and the notes that apply to it as a whole (what no format carries)."""

    otio: otio.schema.Timeline
    notes: list[str] = field(default_factory=list)


def build(spec: CutSpec, shots: Mapping[str, ShotSource], beds: Sequence[Media]) -> BuiltTimeline:
    """The timeline of ``spec``: ``shots`` by shot id (every clip rendered), ``beds`` one per
    ``spec.beds`` item."""
    fps = spec.deliverable.fps
    placements = place(spec)
    total = placements[-1].end
    timeline = otio.schema.Timeline(name=spec.deliverable.name, global_start_time=RT(0, fps))
    timeline.metadata[NAMESPACE] = {
        "title": spec.title,
        "deliverable": spec.deliverable.name,
        "width": spec.deliverable.width,
        "height": spec.deliverable.height,
        "fps": fps,
        "reframe": spec.deliverable.reframe,
        "captions": spec.deliverable.captions,
        "mix": {"loudness": spec.mix.loudness, "true_peak": spec.mix.true_peak, "shot_audio": spec.mix.shot_audio},
    }
    video = _video_track(spec, placements, shots)
    timeline.tracks.append(video)
    if spec.mix.shot_audio and any(shots[c.shot_id].media.has_audio for c in spec.clips):
        timeline.tracks.append(_shot_audio_track(spec, placements, shots))
    for index, (bed, media) in enumerate(zip(spec.beds, beds, strict=True)):
        track = _bed_track(spec, index, bed, media, total)
        if track is not None:
            timeline.tracks.append(track)
    return BuiltTimeline(timeline, _notes(spec, shots))


def _cut_points(placements: list[Placement]) -> list[int]:
    """Frame of each cut, first frame and end included: a transition's cut is the middle of its overlap
    (where the editor's caption cues switch too)."""
    return [p.cue_start for p in placements] + [placements[-1].end]


def _transition(frames: int, xfade: str, fps: float) -> otio.schema.Transition:
    # in_offset: frames before the cut (the incoming clip's head handle); out_offset: after it.
    return otio.schema.Transition(
        name=xfade_name(xfade),
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=RT(frames // 2, fps),
        out_offset=RT(frames - frames // 2, fps),
        metadata={NAMESPACE: {"xfade": xfade_name(xfade), "frames": frames}},
    )


def _shot_clips(spec: CutSpec, placements: list[Placement]):
    """(clip spec, placement, source start frame, visible frames) per shot, in cut order."""
    fps = spec.deliverable.fps
    cuts = _cut_points(placements)
    for index, (clip, p) in enumerate(zip(spec.clips, placements, strict=True)):
        trim_in = round((clip.trim[0] if clip.trim else 0.0) * fps)
        head = cuts[index] - p.start  # frames of this clip under the transition before the cut
        yield clip, p, trim_in + head, cuts[index + 1] - cuts[index]


def _video_track(spec: CutSpec, placements: list[Placement], shots: Mapping[str, ShotSource]) -> otio.schema.Track:
    fps = spec.deliverable.fps
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    captions = {}
    if spec.deliverable.captions != "none":
        captions = {c.shot_id: c.caption.strip() for c in spec.clips if c.caption and c.caption.strip()}
    for clip, p, source_in, length in _shot_clips(spec, placements):
        source = shots[clip.shot_id]
        item = _clip(clip.shot_id, source.media, TR(RT(source_in, fps), RT(length, fps)), fps)
        item.metadata[NAMESPACE] = {
            **(source.provenance.to_metadata() if source.provenance else {"shot": clip.shot_id}),
            "trim": list(clip.trim) if clip.trim else None,
            # Seconds, as the cut report gives them: the shot's frames on the timeline, handles included.
            "timeline_in": round(p.start / fps, 6), "timeline_out": round(p.end / fps, 6),
        }
        if p.transition_frames and clip.transition:
            track.append(_transition(p.transition_frames, clip.transition.type, fps))
            xfade = xfade_name(clip.transition.type)
            if xfade not in DISSOLVES:
                item.markers.append(_marker(
                    f"{xfade} transition exported as a cross dissolve ({p.transition_frames} frames)",
                    TR(RT(source_in, fps), RT(0, fps)), NOTE, {"xfade": xfade},
                ))
        if clip.shot_id in captions:
            # The cue runs from cut to cut, which is exactly this clip's span on the track.
            item.markers.append(_marker(captions[clip.shot_id], item.source_range, CAPTION,
                                        {"caption": captions[clip.shot_id]}))
        track.append(item)
    return track


def _shot_audio_track(spec: CutSpec, placements: list[Placement],
                      shots: Mapping[str, ShotSource]) -> otio.schema.Track:
    fps = spec.deliverable.fps
    track = otio.schema.Track(name=SHOT_AUDIO, kind=otio.schema.TrackKind.Audio)
    for clip, p, source_in, length in _shot_clips(spec, placements):
        if p.transition_frames and clip.transition:
            # The editor cross-fades the shots' sound under every transition (silence where a shot has none).
            track.append(_transition(p.transition_frames, "dissolve", fps))
        media = shots[clip.shot_id].media
        if media.has_audio:
            item = _clip(clip.shot_id, media, TR(RT(source_in, fps), RT(length, fps)), fps)
            item.metadata[NAMESPACE] = {"shot": clip.shot_id}
            track.append(item)
        else:
            track.append(otio.schema.Gap(source_range=TR(RT(0, fps), RT(length, fps))))
    return track


def _bed_track(spec: CutSpec, index: int, bed: BedSpec, media: Media, total: int) -> otio.schema.Track | None:
    """Soundtrack item ``index`` on its own track, cut at the end of the timeline (None when it starts
    after the end)."""
    fps = spec.deliverable.fps
    start = round(bed_start(spec, index) * fps)
    if start >= total:
        return None
    available = max(1, round(media.duration * fps))
    span = total - start if bed.loop else min(total - start, available)
    track = otio.schema.Track(name=f"A{index + 2} {bed.name}", kind=otio.schema.TrackKind.Audio)
    if start:
        track.append(otio.schema.Gap(source_range=TR(RT(0, fps), RT(start, fps))))
    fade_in = min(round(bed.fade_in * fps), span)
    fade_out = min(round(bed.fade_out * fps), span - fade_in)
    if fade_in:
        track.append(_fade(fade_in, fps, into=True))
    info = {
        "asset": bed.name, "gain_db": bed.volume_db, "fade_in": bed.fade_in, "fade_out": bed.fade_out,
        "duck": bed.duck, "loop": bed.loop, "at": bed.at, "offset": bed.offset, "start": bed.start,
    }
    placed = 0
    while placed < span:  # a looped item repeats its file back to back, as the editor plays it
        length = min(available, span - placed)
        item = _clip(bed.name, media, TR(RT(0, fps), RT(length, fps)), fps)
        item.metadata[NAMESPACE] = dict(info)
        if bed.volume_db:
            item.effects.append(otio.schema.Effect(
                name=f"gain {bed.volume_db:+g} dB", effect_name="AudioVolume",
                metadata={NAMESPACE: {"gain_db": bed.volume_db}},
            ))
        if bed.duck and not placed:
            item.markers.append(_marker(
                f"{bed.name} is ducked under the shots' sound and the voice-over (sidechain compression "
                "8:1 from -30 dBFS); duck it in the mix", TR(RT(0, fps), RT(0, fps)), NOTE, {"duck": True},
            ))
        track.append(item)
        placed += length
    if fade_out:
        track.append(_fade(fade_out, fps, into=False))
    return track


def _fade(frames: int, fps: float, *, into: bool) -> otio.schema.Transition:
    """A fade from (``into``) or to silence: a transition whose other side is no clip, as OTIO writes fades."""
    return otio.schema.Transition(
        name="fade in" if into else "fade out",
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=RT(0 if into else frames, fps),
        out_offset=RT(frames if into else 0, fps),
        metadata={NAMESPACE: {"fade": "in" if into else "out", "frames": frames}},
    )


def _clip(name: str, media: Media, source_range: otio.opentime.TimeRange, fps: float) -> otio.schema.Clip:
    reference = otio.schema.ExternalReference(
        target_url=media.url,
        available_range=TR(RT(0, fps), RT(max(1, round(media.duration * fps)), fps)),
    )
    return otio.schema.Clip(name=name, media_reference=reference, source_range=source_range)


def _marker(name: str, marked: otio.opentime.TimeRange, color: str, info: dict[str, Any]) -> otio.schema.Marker:
    return otio.schema.Marker(name=name, marked_range=marked, color=color, metadata={NAMESPACE: info})


def _notes(spec: CutSpec, shots: Mapping[str, ShotSource]) -> list[str]:
    """What the cut does to the whole timeline that no exported format carries."""
    d = spec.deliverable
    notes = [f"the cut's mix is normalised to {spec.mix.loudness:g} LUFS, {spec.mix.true_peak:g} dBTP; "
             "normalise the NLE's mix again"]
    if d.captions == "burn" and cues(spec):
        notes.append("captions are burned into the cut's picture; here they are markers (and an SRT): add them "
                     "as titles")
    shapes = {(m.width, m.height) for m in (s.media for s in shots.values()) if m.width and m.height}
    if any(w * d.height != h * d.width for w, h in shapes):
        how = "letterboxes them (reframe: pad)" if d.reframe == "pad" else "fills the frame and crops the centre"
        notes.append(f"the clips are not {d.width}x{d.height}: the cut {how}; set the NLE's scaling to match")
    return notes
