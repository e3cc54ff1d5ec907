"""Writing a built timeline as OTIO, FCPXML or a CMX 3600 EDL through OpenTimelineIO's adapters, and
reading those files back.

Each format gets a copy of the timeline with what its adapter cannot carry turned into red markers
(FCPXML) or comments (EDL) at the place it was lost; OTIO itself keeps everything. The adapters'
limits, found by reading them (otio-fcpx-xml-adapter 1.0, otio-cmx3600-adapter 1.0):

- fcpx_xml writes clips, gaps and markers on the spine and on lanes; no transitions, no effects
  (gain), no frame size; frame rates from a fixed table, and it reads fractional ones back truncated.
- cmx_3600 writes the first video track only (and refuses more than two audio tracks): no sound at
  all; dissolves only; clip names, file paths and markers as comments (marker text in capitals);
  SMPTE rates only; an EDL does not say its rate, so it is read back at the deliverable's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from ..errors import StoryboardError
from ..fsutil import atomic_write_text
from .build import NAMESPACE, NOTE, RT, TR, BuiltTimeline

SUFFIXES = {"otio": ".otio", "fcpxml": ".fcpxml", "edl": ".edl"}
ADAPTERS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "edl": "cmx_3600"}
# Rates the FCPXML adapter both writes and reads back exactly (its table also lists 23.98, 29.97 and
# 59.94, but it reads those back as 23, 29 and 59 frames per second).
FCPXML_RATES = (24, 25, 30, 50, 60)
REEL_LENGTH = 8  # CMX 3600 reel names


def check_rate(fmt: str, fps: float) -> None:
    """Refuse a frame rate the format's adapter cannot write faithfully, before anything is written."""
    if fmt == "fcpxml" and fps not in FCPXML_RATES:
        raise StoryboardError(f"FCPXML export needs one of {', '.join(map(str, FCPXML_RATES))} fps (the adapter "
                              f"cannot write {fps:g} fps faithfully); export OTIO, or set the deliverable's fps")
    if fmt == "edl":
        try:
            otio.opentime.to_timecode(RT(0, fps), fps)
        except ValueError:
            raise StoryboardError(f"an EDL needs a SMPTE timecode rate (24, 25, 30, 23.976, 29.97, …), not "
                                  f"{fps:g} fps; export OTIO, or set the deliverable's fps") from None


def prepare(built: BuiltTimeline, fmt: str) -> tuple[otio.schema.Timeline, list[str]]:
    """A copy of ``built`` for ``fmt``, with markers or comments where the format loses something, and
    the notes on what the whole timeline loses."""
    timeline = built.otio.deepcopy()
    video = _video(timeline)
    first = next(iter(video.find_clips()))
    notes = list(built.notes)
    if fmt == "fcpxml":
        notes += _for_fcpxml(timeline)
    elif fmt == "edl":
        notes += _for_edl(timeline)
    timeline.metadata[NAMESPACE]["notes"] = notes
    start = first.source_range.start_time
    for note in notes:
        first.markers.append(otio.schema.Marker(name=note, marked_range=TR(start, RT(0, start.rate)), color=NOTE,
                                                metadata={NAMESPACE: {"note": note}}))
    return timeline, notes


def write(timeline: otio.schema.Timeline, fmt: str, dest: Path) -> Path:
    """Write ``timeline`` to ``dest`` with the format's adapter (atomically)."""
    options = {"style": "avid", "reelname_len": REEL_LENGTH} if fmt == "edl" else {}
    # The EDL writer edits the timeline it is given (it moves cuts to where CMX 3600 puts them).
    text = otio.adapters.write_to_string(timeline.deepcopy(), ADAPTERS[fmt], **options)
    atomic_write_text(dest, text)
    return dest


@contextlib.contextmanager
def _exact_fcpxml_times() -> Iterator[None]:
    """Read FCPXML times as exact fractions. The adapter computes ``int(float(n) / float(d) * fps)``,
    which truncates: 57/25 s at 25 fps reads back as 56 frames (otio-fcpx-xml-adapter 1.0)."""
    fcpx_xml = otio.adapters.from_name(ADAPTERS["fcpxml"]).module()  # OTIO loads its own copy of the module

    def frames(value: str | None, per_second: Fraction) -> int:
        if value in (None, "0s"):
            return 0
        return round(Fraction(value.removesuffix("s")) * per_second)

    def to_rational_time(value: str | None, fps: float) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(frames(value, Fraction(fps)), int(fps))

    def number_of_frames(self: Any, value: str | None, format_id: str) -> int:
        total, rate = self._format_frame_duration(format_id)
        return frames(value, Fraction(rate) / Fraction(total))

    saved = fcpx_xml.to_rational_time, fcpx_xml.FcpxXml._number_of_frames
    fcpx_xml.to_rational_time, fcpx_xml.FcpxXml._number_of_frames = to_rational_time, number_of_frames
    try:
        yield
    finally:
        fcpx_xml.to_rational_time, fcpx_xml.FcpxXml._number_of_frames = saved


def read(path: Path, fmt: str, fps: float) -> otio.schema.Timeline:
    """Read an exported file back through the same adapter (FCPXML times read exactly)."""
    options = {"rate": fps} if fmt == "edl" else {}
    with _exact_fcpxml_times() if fmt == "fcpxml" else contextlib.nullcontext():
        result = otio.adapters.read_from_file(str(path), ADAPTERS[fmt], **options)
    if isinstance(result, otio.schema.SerializableCollection):  # FCPXML events hold several projects
        result = next(iter(result.find_children(descended_from_type=otio.schema.Timeline)))
    return result


def _video(timeline: otio.schema.Timeline) -> otio.schema.Track:
    return next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)


def _seconds(frames: int, fps: float) -> str:
    return f"{frames / fps:g} s"


def _for_fcpxml(timeline: otio.schema.Timeline) -> list[str]:
    meta = timeline.metadata[NAMESPACE]
    fps = meta["fps"]
    video = _video(timeline)
    for index, item in enumerate(video):
        if isinstance(item, otio.schema.Transition):
            frames = item.metadata[NAMESPACE]["frames"]
            incoming = video[index + 1]
            # Nothing is exported as a dissolve here, so the build's "exported as a dissolve" marker goes.
            kept = [m for m in incoming.markers if "xfade" not in m.metadata.get(NAMESPACE, {})]
            incoming.markers[:] = kept
            incoming.markers.append(otio.schema.Marker(
                name=f"{item.name} transition of {frames} frames ({frames // 2} before this cut, "
                     f"{frames - frames // 2} after), picture and sound: not carried by FCPXML; add it here",
                marked_range=TR(incoming.source_range.start_time, RT(0, fps)), color=NOTE,
            ))
    for track in timeline.tracks:
        if track.kind != otio.schema.TrackKind.Audio:
            continue
        clips = list(track.find_clips())
        info = clips[0].metadata.get(NAMESPACE, {}) if clips else {}
        if "asset" in info and (info["gain_db"] or info["fade_in"] or info["fade_out"]):
            clips[0].markers.append(otio.schema.Marker(
                name=f"{info['asset']}: gain {info['gain_db']:+g} dB, fade in {info['fade_in']:g} s, fade out "
                     f"{info['fade_out']:g} s: not carried by FCPXML; set them on this clip",
                marked_range=TR(clips[0].source_range.start_time, RT(0, fps)), color=NOTE,
            ))
    for track in timeline.tracks:
        # The adapter writes no transitions, but reads a clip beside an odd-length one a frame short (it
        # widens clips by their transitions' uneven halves): take them out, the markers above keep them.
        for index in reversed(range(len(track))):
            if isinstance(track[index], otio.schema.Transition):
                del track[index]
    for clip in video.find_clips():
        # FCPXML keeps a note and metadata on the asset-clip of each media file.
        info = clip.metadata.get(NAMESPACE, {})
        clip.media_reference.metadata["fcpx"] = {
            "note": _summary(info),
            "metadata": [{f"{NAMESPACE}.{key}": _text(value)} for key, value in info.items() if value is not None],
        }
    return [f"the timeline is {meta['width']}x{meta['height']} at {fps:g} fps: FCPXML here carries the rate but "
            "not the frame size; set the project's format to match"]


def _for_edl(timeline: otio.schema.Timeline) -> list[str]:
    meta = timeline.metadata[NAMESPACE]
    fps = meta["fps"]
    lost = []
    for track in [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]:
        clips = list(track.find_clips())
        info = clips[0].metadata.get(NAMESPACE, {}) if clips else {}
        if "asset" in info:
            where = otio.opentime.to_timecode(track.range_of_child(clips[0]).start_time, fps)
            length = sum(c.source_range.duration.value for c in clips)
            lost.append(f"{info['asset']} ({Path(clips[0].media_reference.target_url).name}) at {where} for "
                        f"{_seconds(length, fps)}, gain {info['gain_db']:+g} dB, fade in {info['fade_in']:g} s, "
                        f"fade out {info['fade_out']:g} s" + (", ducked" if info["duck"] else ""))
        elif clips:
            lost.append(f"the sound of {', '.join(c.name for c in clips)}")
        timeline.tracks.remove(track)
    notes = [f"the timeline is {meta['width']}x{meta['height']} at {fps:g} fps (an EDL states neither)"]
    if lost:
        notes.append("no sound: the EDL adapter writes the picture only; lost here (kept in the OTIO and FCPXML "
                     "exports): " + "; ".join(lost))
    reels = _reels([clip.name for clip in _video(timeline).find_clips()])
    for clip in _video(timeline).find_clips():
        info = clip.metadata.get(NAMESPACE, {})
        clip.metadata["cmx_3600"] = {
            "reel": reels[clip.name],
            "comments": [f"REELMAKE {key.upper()}: {_text(value)}" for key, value in info.items()
                         if value is not None and key not in ("timeline_in", "timeline_out")],
        }
    return notes


def _reels(names: list[str]) -> dict[str, str]:
    """A distinct reel name of at most 8 letters and digits per clip name (CMX 3600 reels identify sources)."""
    out: dict[str, str] = {}
    for number, name in enumerate(names, 1):
        reel = re.sub(r"[^A-Za-z0-9]", "", name).upper()[:REEL_LENGTH] or f"R{number}"
        if reel in out.values():
            suffix = str(number)
            reel = reel[: REEL_LENGTH - len(suffix)] + suffix
        out[name] = reel
    return out


def _text(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    return " ".join(str(value).split())  # one line: EDL comments and XML attributes alike


def _summary(info: dict) -> str:
    parts = [f"shot {info.get('shot')}"]
    for key in ("model", "backend", "host", "take", "cost", "render_key"):
        if info.get(key) is not None:
            parts.append(f"{key.replace('_', ' ')} {info[key]}")
    if info.get("approval"):
        parts.append(f"approval: {_text(info['approval'])}")
    if info.get("prompt"):
        parts.append(f"prompt: {_text(info['prompt'])}")
    return "; ".join(parts)
