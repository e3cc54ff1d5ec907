"""Stream copy, smart cut and overlap-only transitions, on tiny clips already in the deliverable's format.

The clips number their frames (frame n is grey at luma 20 + 4n), so a test can tell exactly which
source frame landed where; copied frames decode to the very pixels of the source.
"""

from __future__ import annotations

import logging

import pytest

from reelmake.edit import Transition, cut
from reelmake.errors import StoryboardError

from .edit_media import clip_spec, frame_hashes, frame_lumas, make_clip, make_numbered, stream_durations, video_frames
from .edit_media import deliverable as _deliverable
from .edit_media import spec as _spec


def deliverable(size: str = "160x90", **kw):
    return _deliverable(size=size, **kw)


def spec(clips, deliv=None, **kw):
    return _spec(clips, deliv or deliverable(), **kw)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("edit-copy")
    return {
        "a": make_numbered(d / "a.mp4", frames=48, gop=12),
        "b": make_numbered(d / "b.mp4", frames=48, gop=12, tone=660),
        "silent": make_numbered(d / "silent.mp4", frames=48, gop=12, tone=None),
        "long": make_numbered(d / "long.mp4", frames=60, gop=60),  # one GOP
        "baseline": make_numbered(d / "baseline.mp4", frames=48, profile="baseline"),
    }


@pytest.fixture
def commands(caplog):
    """Every ffmpeg command the editor ran (what `-v` prints)."""
    caplog.set_level(logging.INFO, logger="reelmake")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "reelmake.ffmpeg"]


def decisions(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "reelmake.edit"]


def matches(out_lumas: list[float], source_lumas: list[float], first: int) -> bool:
    """Output frame k shows source frame first + k (flat frames: luma within codec noise)."""
    return all(abs(o - source_lumas[first + k]) < 1.5 for k, o in enumerate(out_lumas))


def test_an_untrimmed_clip_in_the_deliverables_format_is_copied_not_encoded(clips, tmp_path, commands, caplog):
    report = cut(spec([clip_spec(clips["a"], "a"), clip_spec(clips["b"], "b")]), tmp_path / "o.mp4",
                 work_dir=tmp_path / "work")
    assert [s.video for s in report.shots] == ["copy", "copy"]
    assert not [c for c in commands() if "libx264" in c]  # no frame was encoded
    assert frame_hashes(tmp_path / "o.mp4") == frame_hashes(clips["a"]) + frame_hashes(clips["b"])
    assert "shot a: stream copy of 48 frames (in the deliverable's format)" in decisions(caplog)
    assert stream_durations(tmp_path / "o.mp4") == {"video": 4.0, "audio": 4.0}


def test_a_trim_off_keyframes_is_a_frame_exact_smart_cut(clips, tmp_path):
    # Frames 5..40 of a (GOPs at 0, 12, 24, 36): 5..11 and 36..40 re-encoded, 12..35 copied.
    report = cut(spec([clip_spec(clips["a"], "a", trim=(5 / 24, 41 / 24))]), tmp_path / "o.mp4",
                 work_dir=tmp_path / "work")
    out = tmp_path / "o.mp4"
    assert video_frames(out) == 36
    assert matches(frame_lumas(out), frame_lumas(clips["a"]), 5)
    assert frame_hashes(out)[7:31] == frame_hashes(clips["a"])[12:36]  # the copied GOPs, bit for bit
    assert report.shots[0].video == "smart-cut"
    assert "24 frames stream-copied, 12 re-encoded" in report.shots[0].decision


def test_a_trim_on_keyframes_needs_no_encode(clips, tmp_path, commands):
    cut(spec([clip_spec(clips["a"], "a", trim=(0.5, 1.5))]), tmp_path / "o.mp4", work_dir=tmp_path / "work")
    assert frame_hashes(tmp_path / "o.mp4") == frame_hashes(clips["a"])[12:36]
    assert not [c for c in commands() if "libx264" in c]


def test_a_transition_encodes_only_its_overlap(clips, tmp_path, commands):
    # 12 frames of fade: a's last GOP under b's first; everything else is copied.
    s = spec([clip_spec(clips["a"], "a"), clip_spec(clips["b"], "b", transition=Transition("fade", 0.5))])
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    out = tmp_path / "o.mp4"
    assert video_frames(out) == 84
    hashes = frame_hashes(out)
    assert hashes[:36] == frame_hashes(clips["a"])[:36] and hashes[48:] == frame_hashes(clips["b"])[12:]
    encodes = [c for c in commands() if "libx264" in c]
    assert len(encodes) == 1 and "xfade" in encodes[0]
    (blend,) = (tmp_path / "work" / "blends").glob("*.mov")
    assert video_frames(blend) == 12
    assert [s.video for s in report.shots] == ["copy", "copy"]


def test_a_transition_off_the_gops_re_encodes_up_to_the_nearest_keyframes(clips, tmp_path):
    # 0.25 s = 6 frames: a copies 0..35 and re-encodes 36..41 alone, b re-encodes 6..11, copies 12..47.
    s = spec([clip_spec(clips["a"], "a"), clip_spec(clips["b"], "b", transition=Transition("wipeleft", 0.25))])
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    lumas = frame_lumas(tmp_path / "o.mp4")
    assert len(lumas) == 90
    assert matches(lumas[:42], frame_lumas(clips["a"]), 0) and matches(lumas[48:], frame_lumas(clips["b"]), 6)
    assert [s.video for s in report.shots] == ["smart-cut", "smart-cut"]


def test_a_clip_in_another_format_is_encoded_and_says_why(clips, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="reelmake")
    report = cut(spec([clip_spec(clips["baseline"], "x"), clip_spec(clips["a"], "a")]), tmp_path / "o.mp4",
                 work_dir=tmp_path / "work")
    assert report.shots[0].video == "encode" and "not High" in report.shots[0].decision
    assert any("shot x: re-encoded, 48 frames (H.264 profile" in m for m in decisions(caplog))
    out = tmp_path / "o.mp4"
    assert matches(frame_lumas(out)[:48], frame_lumas(clips["baseline"]), 0)
    assert frame_hashes(out)[48:] == frame_hashes(clips["a"])  # copied after an encoded piece


@pytest.mark.parametrize(("size", "fps", "why"), [("320x180", 24, "160x90, not 320x180"),
                                                 ("160x90", 25, "24/1 fps, not 25")])
def test_a_clip_at_another_size_or_rate_is_encoded(clips, tmp_path, size, fps, why):
    report = cut(spec([clip_spec(clips["a"], "a")], deliverable(size, fps=fps)), tmp_path / "o.mp4",
                 work_dir=tmp_path / "work")
    assert report.shots[0].video == "encode" and why in report.shots[0].decision


def test_the_same_clip_twice_and_a_clip_without_audio(clips, tmp_path):
    s = spec([clip_spec(clips["a"], "a"), clip_spec(clips["silent"], "s"), clip_spec(clips["a"], "again")])
    cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    assert video_frames(tmp_path / "o.mp4") == 144
    assert stream_durations(tmp_path / "o.mp4") == {"video": 6.0, "audio": 6.0}


def test_a_clip_shorter_than_its_shot_is_padded_by_encoding(clips, tmp_path):
    report = cut(spec([clip_spec(clips["a"], "a", seconds=2.5)]), tmp_path / "o.mp4", work_dir=tmp_path / "work")
    assert video_frames(tmp_path / "o.mp4") == 60
    assert report.shots[0].video == "encode" and "48 frames, 60 needed" in report.shots[0].decision


def test_one_long_gop_is_encoded_whole_when_trimmed_inside_it(clips, tmp_path):
    report = cut(spec([clip_spec(clips["long"], "l", seconds=2.5, trim=(0.5, 2.0))]), tmp_path / "o.mp4",
                 work_dir=tmp_path / "work")
    assert matches(frame_lumas(tmp_path / "o.mp4"), frame_lumas(clips["long"]), 12)
    assert report.shots[0].video == "encode"


def test_a_15_second_spot_with_two_half_second_transitions_is_375_frames_at_25_fps(tmp_path):
    # 5 + 5.5 + 5.5 − 0.5 − 0.5: the transitions take 13 and 12 frames, never 12 + 12 (15.04 s).
    sources = [make_clip(tmp_path / f"c{i}.mp4", seconds=s, size="160x90", fps=25, tone=300 + 100 * i)
               for i, s in enumerate((5, 5.5, 5.5))]
    deliv = deliverable(fps=25, length=15)
    s = spec([clip_spec(sources[0], "a", 5), clip_spec(sources[1], "b", 5.5, transition=Transition("fade", 0.5)),
              clip_spec(sources[2], "c", 5.5, transition=Transition("dissolve", 0.5))], deliv)
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    assert video_frames(tmp_path / "o.mp4") == 375
    assert stream_durations(tmp_path / "o.mp4") == {"video": 15.0, "audio": 15.0}
    assert report.duration == 15.0


def test_a_length_the_shots_do_not_make_is_refused_naming_their_total(clips, tmp_path):
    s = spec([clip_spec(clips["a"], "a"), clip_spec(clips["b"], "b")], deliverable(length=3))
    with pytest.raises(StoryboardError, match=r"length is 3 s \(72 frames at 24 fps\) but the shots add up to 4 s"):
        cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")


def test_reused_pieces_are_touched_for_gc(clips, tmp_path):
    import os

    s = spec([clip_spec(clips["baseline"], "x"), clip_spec(clips["a"], "a", trim=(0.25, 2))])
    cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    pieces = [p for p in (tmp_path / "work").rglob("*") if p.is_file() and p.parent.name in ("clips", "probe")]
    assert len(pieces) >= 4
    for p in pieces:
        os.utime(p, (1_000_000, 1_000_000))
    cut(s, tmp_path / "other.mp4", work_dir=tmp_path / "work")
    assert all(p.stat().st_mtime > 1_000_000 for p in pieces)
