"""Encoded pieces: a clip's frames (or a slate's) in the deliverable's format, alone or in a transition.

A piece holds exactly its frame count at the deliverable's size and rate (square pixels, yuv420p,
H.264 High at final quality, the shared timescale), video only: the soundtrack is mixed apart. It
is keyed by the clip's content hash and what shapes its pixels, never by paths, so a re-cut encodes
only pieces whose key changed; same key, same bytes, so two processes racing on one key is harmless
(each writes a temp file and renames it). A piece that is reused has its mtime touched, so `reelmake
gc` keeps what recent cuts still use.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import ffmpeg
from ffmpeg.nodes import Stream

from ..errors import MediaError
from ..ffgraph import file_input, run_graph, source
from . import captions
from .encode import Encoding, rate
from .once import make_once
from .pieces import Blend, Encode, Span
from .spec import ClipSpec
from .timeline import xfade_name

SLATE_COLOR = "0x1c1c24"


def span_key(clip: ClipSpec, trim: int, span: Span, enc: Encoding) -> list[object]:
    """What decides the pixels of ``span`` of ``clip``: content hash, frames, burned caption; never paths."""
    caption = clip.caption if enc.burn_captions else None
    if clip.path is None:
        return ["slate", clip.shot_id, clip.status, round(clip.length, 6), span.start, span.end, caption]
    return ["clip", clip.sha256, trim + span.start, span.frames, caption]


def encoded(piece: Encode | Blend, clips: tuple[ClipSpec, ...], trims: list[int], enc: Encoding,
            work_dir: Path) -> tuple[Path, bool]:
    """Path of ``piece`` in ``work_dir``, encoding it if needed; True when it was encoded now."""
    if isinstance(piece, Encode):
        span = piece.span
        key = enc.key(*span_key(clips[span.clip], trims[span.clip], span, enc))
        dest = work_dir / "clips" / f"{key}.mov"
        what = f"encoding shot {clips[span.clip].shot_id} (frames {span.start}-{span.end - 1})"
    else:
        out, into = piece.out, piece.into
        key = enc.key("blend", piece.transition, span_key(clips[out.clip], trims[out.clip], out, enc),
                      span_key(clips[into.clip], trims[into.clip], into, enc))
        dest = work_dir / "blends" / f"{key}.mov"
        what = f"{piece.transition} transition {clips[out.clip].shot_id} → {clips[into.clip].shot_id}"

    def encode(tmp: Path) -> None:
        if isinstance(piece, Encode):
            video = frames(clips[piece.span.clip], trims[piece.span.clip], piece.span, enc, work_dir)
        else:
            video = _blend(piece, clips, trims, enc, work_dir)
        run_graph(video.output(str(tmp), format="mov", map_metadata=-1, **enc.video_options()), what=what)

    # Once per key, also when cuts running at once (threads, processes, machines sharing the work dir) want it.
    return dest, make_once(dest, encode, work_dir / "locks")


def _blend(piece: Blend, clips: tuple[ClipSpec, ...], trims: list[int], enc: Encoding, work_dir: Path) -> Stream:
    outgoing = frames(clips[piece.out.clip], trims[piece.out.clip], piece.out, enc, work_dir)
    incoming = frames(clips[piece.into.clip], trims[piece.into.clip], piece.into, enc, work_dir)
    n = piece.frames
    blended = ffmpeg.filter([outgoing, incoming], "xfade", transition=xfade_name(piece.transition),
                            duration=f"{float(n / enc.rate):.6f}", offset=0)
    # xfade keeps the first input's timestamps: restart at zero with a constant rate.
    return (blended.filter("trim", end_frame=n).filter("setpts", expr="N/FRAME_RATE/TB")
            .filter("format", pix_fmts="yuv420p"))


def frames(clip: ClipSpec, trim: int, span: Span, enc: Encoding, work_dir: Path) -> Stream:
    """Frames ``span`` of ``clip`` (a slate when it has no clip) in the deliverable's format."""
    if clip.path is None:
        return _slate(clip, span.frames, enc, work_dir)
    if not Path(clip.path).is_file():
        raise MediaError(f"shot {clip.shot_id}: clip {clip.path} does not exist; re-render it (`reelmake render`)")
    first, n = trim + span.start, span.frames
    # Read from half a frame before the first wanted frame (so rounding of the seek can neither drop
    # it nor keep the one before), and a second past the end so the last frame exists; tpad clones
    # the last frame if the clip is short.
    options: dict[str, object] = {"t": f"{float(Fraction(n) / enc.rate) + 1.0:.6f}"}
    if first:
        options["ss"] = f"{float((first - Fraction(1, 2)) / enc.rate):.6f}"
    video = file_input(Path(clip.path), "video", **options)["v:0"]
    video = _fit(video.filter("setpts", expr="PTS-STARTPTS"), enc)
    video = video.filter("fps", fps=rate(enc.fps)).filter("format", pix_fmts="yuv420p")
    video = _caption(video, clip, enc, work_dir)
    return (video.filter("tpad", stop_mode="clone", stop_duration=f"{float(Fraction(n) / enc.rate) + 1.0:.6f}")
            .filter("trim", end_frame=n).filter("setpts", expr="N/FRAME_RATE/TB"))


def _fit(video: Stream, enc: Encoding) -> Stream:
    w, h = enc.width, enc.height
    # Square pixels first, so 'fill' and 'fit' are judged on the picture's display shape.
    video = video.filter("scale", w="trunc(iw*sar/2)*2", h="ih").filter("setsar", sar=1)
    if enc.reframe == "pad":
        return (video.filter("scale", w=w, h=h, force_original_aspect_ratio="decrease", force_divisible_by=2)
                .filter("pad", w=w, h=h, x="(ow-iw)/2", y="(oh-ih)/2", color="black").filter("setsar", sar=1))
    return (video.filter("scale", w=w, h=h, force_original_aspect_ratio="increase").filter("crop", w=w, h=h)
            .filter("setsar", sar=1))


def _caption(video: Stream, clip: ClipSpec, enc: Encoding, work_dir: Path) -> Stream:
    if not (enc.burn_captions and clip.caption and clip.caption.strip()):
        return video
    return video.filter("drawtext", **captions.drawtext(clip.caption, enc.width, enc.height, work_dir / "text"))


def _slate(clip: ClipSpec, n: int, enc: Encoding, work_dir: Path) -> Stream:
    w, h = enc.width, enc.height
    big = max(10, round(min(w, h) * 0.09))
    small = max(8, round(big * 0.5))
    text_dir = work_dir / "text"
    title = captions.drawtext(clip.shot_id, w, h, text_dir, y=f"(h/2)-text_h-{big // 3}", size=big, box=False)
    detail = captions.drawtext(f"{clip.status.upper()}  ·  {clip.length:.2f} s", w, h, text_dir,
                               y=f"(h/2)+{big // 3}", size=small, box=False)
    video = source("color", c=SLATE_COLOR, s=f"{w}x{h}", r=rate(enc.fps))
    video = _caption(video.filter("drawtext", **title).filter("drawtext", **detail), clip, enc, work_dir)
    return (video.filter("trim", end_frame=n).filter("setpts", expr="N/FRAME_RATE/TB")
            .filter("format", pix_fmts="yuv420p"))
