"""The editor's own MP4 reader agrees with ffprobe on every fact that decides a stream copy."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from reelmake.edit import mp4, sources

from .edit_media import ffmpeg

SOURCE = ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=1"]
TONE = ["-f", "lavfi", "-i", "sine=d=1:r=48000", "-c:a", "aac"]
X264 = ["-c:v", "libx264", "-preset", "veryfast"]
CASES = {
    "b-frames, sound": [*SOURCE, *TONE, *X264, "-profile:v", "high", "-pix_fmt", "yuv420p"],
    "no b-frames": [*SOURCE, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "ntsc rate, 90k timescale, gop 12": ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=30000/1001:d=1", *TONE, *X264,
                                         "-g", "12", "-video_track_timescale", "90000", "-pix_fmt", "yuv420p"],
    "full range": [*SOURCE, *X264, "-pix_fmt", "yuv420p", "-color_range", "pc"],
    "anamorphic": [*SOURCE, "-vf", "setsar=4/3", *X264, "-pix_fmt", "yuv420p"],
    "4:2:2": [*SOURCE, *X264, "-pix_fmt", "yuv422p"],
    "cropped size": ["-f", "lavfi", "-i", "testsrc2=s=322x182:r=24:d=1", *X264, "-pix_fmt", "yuv420p"],
    "no edit list": [*SOURCE, *TONE, *X264, "-pix_fmt", "yuv420p", "-use_editlist", "0"],
}
NAMES = {"field_order"}  # only ffprobe's words differ ("tt" for interlaced)


@pytest.mark.parametrize("case", CASES)
def test_the_mp4_reader_and_ffprobe_agree(tmp_path, case):
    path = tmp_path / "clip.mp4"
    ffmpeg(*CASES[case], str(path))
    fields = mp4.facts(path)
    assert fields is not None, "the plain case must not need ffprobe"
    ours, theirs = dataclasses.asdict(sources._from_fields(fields)), dataclasses.asdict(sources._probe(path))
    # ffprobe prints the start time in microseconds; the reader keeps the exact fraction.
    assert abs(Fraction(ours.pop("format_start")) - Fraction(theirs.pop("format_start"))) < Fraction(1, 10**6)
    assert {k: v for k, v in ours.items() if k not in NAMES} == {k: v for k, v in theirs.items() if k not in NAMES}
    assert mp4.has_audio_track(path) == theirs["has_audio"]


def test_anything_unusual_is_left_to_ffprobe(tmp_path):
    fragmented = tmp_path / "fragmented.mp4"
    ffmpeg(*SOURCE, *X264, "-movflags", "frag_keyframe+empty_moov", str(fragmented))
    hevc = tmp_path / "hevc.mp4"
    ffmpeg(*SOURCE, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", str(hevc))
    for path in (fragmented, hevc, tmp_path / "missing.mp4"):
        assert mp4.facts(path) is None
