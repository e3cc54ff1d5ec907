"""Joining the pieces: one concat list, read by the final mux with the video stream-copied.

The concat demuxer reads every piece in turn (encoded pieces, and stream-copied GOP ranges given by
``inpoint``/``outpoint``), offsets each by the exact duration before it, and puts H.264 parameter
sets in-band (its ``auto_convert``), so pieces from different encoders decode as one stream. Pieces
reorder frames differently (x264 holds back two, a provider's encoder maybe none), so the mux
restamps the timestamps with the ``setts`` bitstream filter: each frame's presentation time
rounded to its frame (which also absorbs the microsecond rounding of the list) and decode times one
frame apart, held back by the most any piece reorders.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ffmpeg.nodes import Stream

from ..fsutil import atomic_write_text
from ..ffgraph import input_stream
from .encode import Encoding

# Only plain files: no network, no nested playlists for anything the list names.
_PROTOCOLS = "file,pipe"


@dataclass(frozen=True)
class Entry:
    """One file of the concat list: ``frames`` frames of ``path``, from ``inpoint`` to ``outpoint``."""

    path: Path
    frames: int
    inpoint: Fraction | None = None
    outpoint: Fraction | None = None


def _seconds(value: Fraction) -> str:
    return f"{float(value):.6f}"  # the concat demuxer reads microseconds


def write_concat_list(entries: list[Entry], enc: Encoding, dest: Path) -> Path:
    """An ffconcat list of ``entries`` (paths quoted as its parser wants), each with its exact duration."""
    lines = ["ffconcat version 1.0"]
    for entry in entries:
        quoted = str(Path(entry.path).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        # Every piece is an mp4/mov (ours, or a clip whose tables were read as one): the list may
        # open nothing else, whatever a file's bytes claim.
        lines.append("option format_whitelist mov")
        if entry.inpoint is not None:
            lines.append(f"inpoint {_seconds(entry.inpoint)}")
        if entry.outpoint is not None:
            lines.append(f"outpoint {_seconds(entry.outpoint)}")
        lines.append(f"duration {_seconds(entry.frames / enc.rate)}")
    atomic_write_text(dest, "\n".join(lines) + "\n")
    return dest


def timeline_video(listing: Path) -> Stream:
    """The joined video stream of a concat list (absolute paths, so ``safe=0``).

    ``-copyts``: the concat's timestamps as they are. Otherwise ffmpeg shifts every packet by the
    virtual file's start time, which a clip's audio priming can make a fraction of a frame, and the
    restamping would round each frame to the wrong one."""
    return input_stream(str(listing), f="concat", safe=0, copyts=None, protocol_whitelist=_PROTOCOLS)["v:0"]


def copy_options(enc: Encoding, reorder: int) -> dict[str, object]:
    """Output options that stream-copy the joined video into an mp4 with regular timestamps."""
    tick = enc.frame_ticks
    restamp = f"setts=pts=round(PTS/{tick})*{tick}:dts=(N-{reorder})*{tick}"
    return {"c:v": "copy", "bsf:v": restamp, "tag:v": "avc1", "video_track_timescale": enc.timescale}
