"""Reading a plain MP4's sample tables in Python: the facts ffprobe gives the editor, without a process.

Starting ffprobe costs ~0.1 s of CPU (it links every codec library), more than it takes to read a
clip's tables; for the 20 clips of a spot that is most of a stream-copied cut's overhead. This
reads the ``moov`` box of the common case only: one H.264 (``avc1``/``avc3``) video track, at most
one sound track, no fragments, no edit list beyond one plain entry, with the SPS decoded for the
format (profile, chroma, bit depth, size, pixel aspect, range, interlacing). Anything else returns
None and the caller asks ffprobe; tests check both agree on the files they share.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

# H.264 Table E-1: pixel aspect ratios by aspect_ratio_idc.
_SAR = {1: (1, 1), 2: (12, 11), 3: (10, 11), 4: (16, 11), 5: (40, 33), 6: (24, 11), 7: (20, 11), 8: (32, 11),
        9: (80, 33), 10: (18, 11), 11: (15, 11), 12: (64, 33), 13: (160, 99), 14: (4, 3), 15: (3, 2), 16: (2, 1)}
_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2",
             244: "High 4:4:4 Predictive"}
_CHROMA = {0: "gray", 1: "yuv420p", 2: "yuv422p", 3: "yuv444p"}


class _Unsupported(Exception):
    """The file is not the plain case this reader handles: ask ffprobe."""


def boxes(data: bytes | BinaryIO) -> list[tuple[bytes, int, int]]:
    """ISO BMFF boxes at the top of ``data`` (bytes, or a binary file): (type, payload start, end)."""
    if isinstance(data, bytes):
        size_of, read = len(data), lambda at, n: data[at:at + n]
    else:
        data.seek(0, os.SEEK_END)
        size_of = data.tell()

        def read(at: int, n: int) -> bytes:
            data.seek(at)
            return data.read(n)
    out, pos = [], 0
    while pos + 8 <= size_of:
        size, kind = struct.unpack(">I4s", read(pos, 8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", read(pos + 8, 8))[0], 16
        elif size == 0:
            size = size_of - pos
        if size < header:
            break
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def child(data: bytes, *path: bytes) -> bytes:
    """The payload of the first box at ``path`` inside ``data`` (b"" when there is none)."""
    for kind in path:
        data = next((data[start:end] for k, start, end in boxes(data) if k == kind), b"")
    return data


def read_moov(path: Path) -> bytes | None:
    with open(path, "rb") as fh:
        found = [(start, end) for kind, start, end in boxes(fh) if kind in (b"moov", b"moof")]
        if len(found) != 1 or found[0][1] - found[0][0] > 64 << 20:
            return None
        fh.seek(found[0][0])
        moov = fh.read(found[0][1] - found[0][0])
    return moov if child(moov, b"mvex") == b"" else None  # mvex: a fragmented file


def has_audio_track(path: Path) -> bool | None:
    """Whether ``path`` has a sound track, from its ``moov`` box; None when that is not plain to see."""
    try:
        moov = read_moov(path)
        if moov is None:
            return None
        handlers = [_handler(moov[start:end]) for kind, start, end in boxes(moov) if kind == b"trak"]
    except (OSError, struct.error, _Unsupported):
        return None
    return b"soun" in handlers if handlers else None


def _handler(trak: bytes) -> bytes:
    hdlr = child(trak, b"mdia", b"hdlr")
    if len(hdlr) < 12:
        raise _Unsupported("a track without a handler")
    return hdlr[8:12]  # after version, flags and pre_defined: the handler type


def facts(path: Path) -> dict[str, Any] | None:
    """The fields of ``sources.SourceFacts`` for ``path``, or None when ffprobe must be asked."""
    try:
        moov = read_moov(path)
        return None if moov is None else _facts(moov)
    except (OSError, struct.error, IndexError, _Unsupported):
        return None


def _facts(moov: bytes) -> dict[str, Any]:
    traks = [moov[start:end] for kind, start, end in boxes(moov) if kind == b"trak"]
    handlers = [_handler(t) for t in traks]
    if handlers.count(b"vide") != 1 or handlers.count(b"soun") > 1 or set(handlers) - {b"vide", b"soun"}:
        raise _Unsupported("not one video track and at most one sound track")
    index = handlers.index(b"vide")
    video = _track(traks[index])
    starts = [video["start"]]
    if b"soun" in handlers:
        starts.append(max(Fraction(0), _track(traks[handlers.index(b"soun")], timing_only=True)["start"]))
    return {"video_index": index, "has_audio": b"soun" in handlers, "format_start": str(min(starts)),
            **{k: v for k, v in video.items() if k != "start"}}


def _full(payload: bytes) -> tuple[int, bytes]:
    return payload[0], payload[4:]  # version, body after the flags


def _track(trak: bytes, *, timing_only: bool = False) -> dict[str, Any]:
    stbl = child(trak, b"mdia", b"minf", b"stbl")
    version, mdhd = _full(child(trak, b"mdia", b"mdhd"))
    timescale = struct.unpack(">I", mdhd[16:20] if version == 1 else mdhd[8:12])[0]
    deltas = _runs(child(stbl, b"stts"), signed=False)
    if not deltas or not timescale:
        raise _Unsupported("no samples (fragmented?)")
    ctts = child(stbl, b"ctts")
    offsets = _runs(ctts, signed=_full(ctts)[0] == 1) if ctts else [0] * len(deltas)
    if len(offsets) != len(deltas):
        raise _Unsupported("ctts and stts disagree")
    shift = _edit_shift(child(trak, b"edts", b"elst"))
    dts, total = [], 0
    for delta in deltas:
        dts.append(total - shift)
        total += delta
    pts = [d + o for d, o in zip(dts, offsets, strict=True)]
    start = Fraction(min(pts), timescale)
    if timing_only:
        return {"start": start}
    entry = _sample_entry(child(stbl, b"stsd"))
    stss = child(stbl, b"stss")
    sync = ([n - 1 for n in struct.unpack(f">{_count(stss)}I", _full(stss)[1][4:4 + 4 * _count(stss)])]
            if stss else list(range(len(pts))))
    order = sorted(pts)
    rank = {value: i for i, value in enumerate(order)}
    steps = {b - a for a, b in zip(order, order[1:])} | {b - a for a, b in zip(dts, dts[1:])}
    tick = steps.pop() if len(steps) == 1 and len(rank) == len(pts) else None
    keys = sorted((rank[pts[n]], dts[n]) for n in sync)
    rate = f"{Fraction(timescale, tick).numerator}/{Fraction(timescale, tick).denominator}" if tick else "0/0"
    if tick is None and len(pts) > 1:
        average = Fraction(len(pts) * timescale, total)
        rate = f"{average.numerator}/{average.denominator}"
    return {
        **entry,
        "r_frame_rate": rate, "avg_frame_rate": rate, "time_base": f"1/{timescale}", "start": start,
        "frames": len(pts), "keyframes": tuple(k for k, _ in keys), "key_dts": tuple(d for _, d in keys),
        "first_pts": order[0], "tick": tick,
        "delay": max((i - rank[value] for i, value in enumerate(pts)), default=0),
        "discards": min(pts) < 0,
    }


def _count(payload: bytes) -> int:
    return struct.unpack(">I", _full(payload)[1][:4])[0]


def _runs(payload: bytes, *, signed: bool) -> list[int]:
    """stts/ctts: (count, value) runs expanded to one value per sample."""
    body, out = _full(payload)[1], []
    for i in range(_count(payload)):
        count, value = struct.unpack(">Ii" if signed else ">II", body[4 + 8 * i:12 + 8 * i])
        out += [value] * count
    return out


def _edit_shift(elst: bytes) -> int:
    """The media time a single plain edit starts at (0 without an edit list); other lists are unsupported."""
    if not elst:
        return 0
    version, body = _full(elst)
    if _count(elst) != 1:
        raise _Unsupported("an edit list of several entries")
    media_time, rate = (struct.unpack(">Qqi", body[4:24])[1:] if version == 1 else struct.unpack(">Iii", body[4:16])[1:])
    if media_time < 0 or rate != 1 << 16:
        raise _Unsupported("an empty or scaled edit")
    return media_time


def _sample_entry(stsd: bytes) -> dict[str, Any]:
    body = _full(stsd)[1]
    entries = boxes(body[4:])
    if len(entries) != 1 or entries[0][0] not in (b"avc1", b"avc3"):
        raise _Unsupported("not one H.264 sample entry")
    _, start, end = entries[0]
    visual = body[4 + start:4 + end]
    extensions = visual[78:]  # after the VisualSampleEntry fields
    avcc = child(extensions, b"avcC")
    pasp = child(extensions, b"pasp")
    if len(avcc) < 8 or avcc[5] & 0x1F < 1:
        raise _Unsupported("no SPS in avcC")
    sps_length = struct.unpack(">H", avcc[6:8])[0]
    sps = _sps(avcc[8:8 + sps_length])
    if len(pasp) >= 8:
        h, v = struct.unpack(">II", pasp[:8])
        if h and v and h != v:
            sps["sar"] = f"{Fraction(h, v).numerator}:{Fraction(h, v).denominator}"
    return {"codec": "h264", **sps}


class _Bits:
    def __init__(self, nal: bytes) -> None:
        self.data = nal.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
        self.pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise _Unsupported("a malformed SPS")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _sps(nal: bytes) -> dict[str, Any]:
    """Format fields from an H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1, E.1.1)."""
    bits = _Bits(nal)
    bits.u(8)  # NAL header
    profile, constraints = bits.u(8), bits.u(8)
    bits.u(8)  # level
    bits.ue()  # seq_parameter_set_id
    chroma, depth = 1, 8
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma = bits.ue()
        if chroma == 3:
            bits.u(1)
        depth = bits.ue() + 8
        bits.ue()  # chroma bit depth
        bits.u(1)
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if bits.u(1):
                    last = scale = 8
                    for _ in range(16 if i < 6 else 64):
                        if scale:
                            scale = (last + bits.se() + 256) % 256
                        last = scale or last
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)
    bits.u(1)  # direct_8x8_inference_flag
    crop = [bits.ue() for _ in range(4)] if bits.u(1) else [0, 0, 0, 0]
    sar, full_range = None, False
    if bits.u(1):  # vui_parameters_present_flag
        if bits.u(1):  # aspect_ratio_info_present_flag
            idc = bits.u(8)
            pair = (bits.u(16), bits.u(16)) if idc == 255 else _SAR.get(idc)
            if pair and pair[0] and pair[1]:
                ratio = Fraction(*pair)
                sar = f"{ratio.numerator}:{ratio.denominator}"
        if bits.u(1):  # overscan_info_present_flag
            bits.u(1)
        if bits.u(1):  # video_signal_type_present_flag
            bits.u(3)
            full_range = bool(bits.u(1))
    unit_x = 1 if chroma in (0, 3) else 2
    unit_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
    name = _PROFILES.get(profile, f"profile {profile}")
    if profile == 66 and constraints & 0x40:
        name = "Constrained Baseline"
    elif profile == 100 and constraints & 0x08:
        name = "Progressive High" if not constraints & 0x04 else "Constrained High"
    pix_fmt = _CHROMA.get(chroma, "unknown") if depth == 8 else f"{_CHROMA.get(chroma, 'yuv')}{depth}le"
    if full_range and pix_fmt == "yuv420p":
        pix_fmt = "yuvj420p"
    return {
        "profile": name, "pix_fmt": pix_fmt, "sar": sar,
        "width": width_mbs * 16 - unit_x * (crop[0] + crop[1]),
        "height": height_units * 16 * (2 - frame_mbs_only) - unit_y * (crop[2] + crop[3]),
        "field_order": "progressive" if frame_mbs_only else "interlaced",  # ffprobe names the field order
    }
