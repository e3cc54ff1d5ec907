"""What the editor knows of a rendered clip: its format and GOPs, and whether it can be stream-copied.

One ffprobe call per clip lists its streams and its video packets (no decoding); the facts are
cached in the work dir under the clip's content hash, so a re-cut probes nothing. A clip is *in
the deliverable's format* when its video could sit in the deliverable untouched: H.264 High,
yuv420p, the deliverable's size, square pixels, progressive, and exactly the deliverable's frame
rate with every frame one time-base step apart (so its timestamps convert to the deliverable's
timescale without rounding). Audio never decides it: the soundtrack is mixed and
loudness-normalised, so every clip's audio is decoded anyway.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import MediaError
from ..fsutil import atomic_write_text
from ..ffgraph import file_input, run_graph
from ..media import ffprobe
from . import mp4
from .encode import Encoding
from .once import make_once

FACTS_VERSION = 1  # bump when the cached facts change shape


@dataclass(frozen=True)
class SourceFacts:
    """A clip's streams and video packets, as ffprobe reports them (times in ``time_base`` ticks)."""

    video_index: int | None
    codec: str | None
    profile: str | None
    pix_fmt: str | None
    width: int | None
    height: int | None
    sar: str | None
    field_order: str | None
    r_frame_rate: str
    avg_frame_rate: str
    time_base: str
    format_start: str  # the file's start time in seconds (a fraction): ffmpeg shifts timestamps by it
    has_audio: bool
    frames: int  # video frames
    keyframes: tuple[int, ...]  # presentation index of each keyframe
    key_dts: tuple[int, ...]  # decode timestamp of each keyframe
    first_pts: int  # presentation time of the first frame
    tick: int | None  # the step between frames, when every frame is one step apart in both orders
    delay: int  # the most frames a packet is decoded ahead of its presentation (B-frame reordering)
    discards: bool  # an edit list hides some packets

    @property
    def tb(self) -> Fraction:
        return Fraction(self.time_base)

    @property
    def offset(self) -> Fraction:
        """Seconds from the start of the file (as ffmpeg's concat and remux see it) to the first frame."""
        return self.first_pts * self.tb - Fraction(self.format_start)

    def mismatch(self, enc: Encoding) -> str | None:
        """Why this clip's video is not in ``enc``'s format (None when it is: it can be stream-copied)."""
        if self.video_index is None:
            return "no video stream"
        checks = [
            (self.codec == "h264", f"codec {self.codec}, not H.264"),
            (self.profile == "High", f"H.264 profile {self.profile}, not High"),
            (self.pix_fmt == "yuv420p", f"pixel format {self.pix_fmt}, not yuv420p"),
            ((self.width, self.height) == (enc.width, enc.height),
             f"{self.width}x{self.height}, not {enc.width}x{enc.height}"),
            (self.sar in (None, "1:1", "0:1", "N/A"), f"pixel aspect {self.sar}, not square"),
            (self.field_order in (None, "progressive", "unknown"), f"{self.field_order} (interlaced)"),
            (_fraction(self.r_frame_rate) == _fraction(self.avg_frame_rate) == enc.rate,
             f"{self.avg_frame_rate} fps, not {enc.rate}"),
            (self.tick is not None and self.tick * self.tb == 1 / enc.rate,
             f"frame times that are not whole steps of 1/{enc.rate} s in time base {self.time_base}"),
            (not self.discards, "an edit list that hides frames"),
            (bool(self.keyframes) and self.keyframes[0] == 0, "a first frame that is not a keyframe"),
        ]
        return next((why for ok, why in checks if not ok), None)

    def boundaries(self) -> list[int]:
        """Frame indices where a stream copy may start or end: every keyframe, and the end."""
        return [*self.keyframes, self.frames]

    def copy_span(self, first: int, end: int) -> tuple[int, int] | None:
        """The widest GOP-aligned ``[start, stop)`` inside source frames ``[first, end)``, if any."""
        starts = [k for k in self.keyframes if first <= k < end]
        stops = [b for b in self.boundaries() if b <= end]
        if not starts or not stops or stops[-1] <= starts[0]:
            return None
        return starts[0], stops[-1]

    def inpoint(self, frame: int) -> Fraction:
        """A concat ``inpoint`` that starts exactly at keyframe ``frame``: a quarter frame past it, so
        the seek cannot land on the keyframe before; the join rounds the quarter away."""
        assert self.tick is not None
        return self.offset + (frame * self.tick + Fraction(self.tick, 4)) * self.tb

    def outpoint(self, frame: int) -> Fraction:
        """A concat ``outpoint`` (a decode time) that ends just before keyframe ``frame``'s packet:
        with closed GOPs, every packet of the frames before it is decoded before it."""
        assert self.tick is not None
        dts = self.key_dts[self.keyframes.index(frame)]
        return (dts - Fraction(self.tick, 2)) * self.tb - Fraction(self.format_start)


def _fraction(text: str) -> Fraction | None:
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def facts(path: Path, sha256: str, work_dir: Path) -> SourceFacts:
    """The facts of clip ``path`` (content hash ``sha256``), probed once and cached in ``work_dir``."""
    cached = work_dir / "probe" / f"{sha256}.json"
    try:
        data = json.loads(cached.read_text("utf-8"))
        if data.pop("version", None) == FACTS_VERSION:
            os.utime(cached)  # still in use: `reelmake gc` keeps what was touched within its grace period
            return SourceFacts(**{**data, "keyframes": tuple(data["keyframes"]), "key_dts": tuple(data["key_dts"])})
    except (OSError, ValueError, TypeError, KeyError):
        pass
    parsed = mp4.facts(path) if path.suffix.lower() in (".mp4", ".mov", ".m4v") else None
    found = _from_fields(parsed) if parsed is not None else _probe(path)
    atomic_write_text(cached, json.dumps({"version": FACTS_VERSION, **asdict(found)}) + "\n")
    return found


def has_audio_track(path: Path) -> bool | None:
    """Whether clip ``path`` has sound, known in milliseconds for an mp4 (None: wait for :func:`facts`)."""
    return mp4.has_audio_track(path) if path.suffix.lower() in (".mp4", ".mov", ".m4v") else None


def _from_fields(fields: dict) -> SourceFacts:
    return SourceFacts(**{"video_index": None, "codec": None, "profile": None, "pix_fmt": None, "width": None,
                          "height": None, "sar": None, "field_order": None, **fields})


def _probe(path: Path) -> SourceFacts:
    data = ffprobe(path, "video", "-show_entries",
                   "format=start_time:stream=index,codec_type,codec_name,profile,pix_fmt,width,height,"
                   "sample_aspect_ratio,field_order,r_frame_rate,avg_frame_rate,time_base:"
                   "packet=stream_index,pts,dts,flags")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    start = _fraction(str(data.get("format", {}).get("start_time", "0"))) or Fraction(0)
    if video is None:
        return SourceFacts(None, None, None, None, None, None, None, None, "0/0", "0/0", "1/1", str(start),
                           has_audio, 0, (), (), 0, None, 0, False)
    index = int(video["index"])
    packets = [p for p in data.get("packets", []) if p.get("stream_index") == index]
    if any(p.get("pts") is None or p.get("dts") is None for p in packets):
        raise MediaError(f"{path}: video packets without timestamps; re-render it")
    pts = [int(p["pts"]) for p in packets]
    dts = [int(p["dts"]) for p in packets]
    order = sorted(pts)
    rank = {value: i for i, value in enumerate(order)}
    steps = {b - a for a, b in zip(order, order[1:])} | {b - a for a, b in zip(dts, dts[1:])}
    keys = [(rank[pts[i]], dts[i]) for i, p in enumerate(packets) if "K" in p.get("flags", "")]
    keys.sort()
    return SourceFacts(
        video_index=index,
        codec=video.get("codec_name"),
        profile=video.get("profile"),
        pix_fmt=video.get("pix_fmt"),
        width=video.get("width"),
        height=video.get("height"),
        sar=video.get("sample_aspect_ratio"),
        field_order=video.get("field_order"),
        r_frame_rate=video.get("r_frame_rate", "0/0"),
        avg_frame_rate=video.get("avg_frame_rate", "0/0"),
        time_base=video.get("time_base", "1/1"),
        format_start=str(start),
        has_audio=has_audio,
        frames=len(packets),
        keyframes=tuple(k for k, _ in keys),
        key_dts=tuple(d for _, d in keys),
        first_pts=order[0] if order else 0,
        tick=steps.pop() if len(steps) == 1 and len(rank) == len(pts) else None,
        delay=max((i - rank[value] for i, value in enumerate(pts)), default=0),
        discards=any("D" in p.get("flags", "") for p in packets),
    )


def copyable(path: Path, sha256: str, found: SourceFacts, enc: Encoding, work_dir: Path, *, whole: bool) -> Path:
    """A file whose first stream is ``path``'s video at the deliverable's timescale, for the concat
    demuxer (which maps streams by position and needs one time base): the clip itself when it
    already is one and is copied ``whole``, else its video remuxed (stream copy, no re-encode) into
    the work dir. (A part of the clip itself will not do: the concat demuxer ends a file at its
    ``outpoint`` in *any* stream, and the audio reaches it before the last video packets.)"""
    if whole and found.video_index == 0 and found.tb == Fraction(1, enc.timescale) and found.offset == 0:
        return path
    dest = work_dir / "copies" / f"{sha256[:40]}-{enc.timescale}.mov"

    def remux(tmp: Path) -> None:
        video = file_input(path, "video")[f"{found.video_index}"]
        run_graph(video.output(str(tmp), format="mov", map_metadata=-1, video_track_timescale=enc.timescale,
                               **{"c:v": "copy"}), what=f"copying the video of {path.name}")

    make_once(dest, remux, work_dir / "locks")
    return dest
