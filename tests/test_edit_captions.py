"""Captions: sidecar cue times on the real cut, burned text inside the safe area, literal rendering."""

from __future__ import annotations

import subprocess

import pytest

from reelmake.edit import Transition, cut, timeline
from reelmake.edit import captions
from reelmake.edit.captions import wrap

from .edit_media import clip_spec, deliverable, frame_at, make_clip, spec

W, H = 320, 180
NASTY = "100% «sure»: it's \"fine\"; [x], {y} a\\nb \\ %{pts} Привет Ωμέγα"


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    d = tmp_path_factory.mktemp("edit-captions")
    return make_clip(d / "grey.mp4", seconds=2.0, color="gray", tone=None)


def rows(pixels: bytes) -> list[bytes]:
    return [pixels[y * W:(y + 1) * W] for y in range(H)]


def diff(a: bytes, b: bytes, *, inside: bool) -> int:
    """Largest pixel difference inside (or outside) the title-safe area."""
    x0, x1, y0, y1 = W // 10, W - W // 10, H // 10, H - H // 10
    worst = 0
    for y, (ra, rb) in enumerate(zip(rows(a), rows(b), strict=True)):
        for x in range(W):
            if (x0 <= x < x1 and y0 <= y < y1) == inside:
                worst = max(worst, abs(ra[x] - rb[x]))
    return worst


def test_srt_written_beside_the_cut_matches_its_timeline(grey, tmp_path):
    s = spec([clip_spec(grey, "a", caption="One"), clip_spec(grey, "b", caption="Two", trim=(0.25, 1.5))])
    report = cut(s, tmp_path / "m.mp4", work_dir=tmp_path / "work")
    text = report.srt.read_text()
    assert "00:00:00,000 --> 00:00:02,000\nOne" in text
    assert "00:00:02,000 --> 00:00:03,250\nTwo" in text
    assert timeline(s) == [("a", 0.0, 2.0), ("b", 2.0, 3.25)]
    assert report.vtt.read_text().startswith("WEBVTT")


def test_captions_none_writes_no_sidecars(grey, tmp_path):
    s = spec([clip_spec(grey, "a", caption="One")], deliverable(captions="none"))
    report = cut(s, tmp_path / "m.mp4", work_dir=tmp_path / "work")
    assert report.srt is None and not (tmp_path / "m.srt").exists()


def test_burned_caption_changes_pixels_inside_the_safe_area_only_while_its_shot_is_on_screen(grey, tmp_path):
    clips = [clip_spec(grey, "a", caption="Made for first light."), clip_spec(grey, "b")]
    burned = cut(spec(clips, deliverable(captions="burn")), tmp_path / "burn.mp4", work_dir=tmp_path / "work")
    plain = cut(spec(clips), tmp_path / "plain.mp4", work_dir=tmp_path / "work")
    during_b, during_p = frame_at(burned.path, 1.0, (W, H)), frame_at(plain.path, 1.0, (W, H))
    assert diff(during_b, during_p, inside=True) > 100  # the caption is there
    assert diff(during_b, during_p, inside=False) <= 6  # nothing outside the safe area (codec noise only)
    after_b, after_p = frame_at(burned.path, 3.0, (W, H)), frame_at(plain.path, 3.0, (W, H))
    assert diff(after_b, after_p, inside=True) <= 6  # gone once shot b is on screen


def test_caption_text_renders_literally_without_expansion_or_injection(grey, tmp_path):
    s = spec([clip_spec(grey, "a", caption=NASTY)], deliverable(captions="burn"))
    report = cut(s, tmp_path / "n.mp4", work_dir=tmp_path / "work")
    # %{pts} expanded would change the picture from frame to frame; literal text does not.
    early, late = frame_at(report.path, 0.2, (W, H)), frame_at(report.path, 1.7, (W, H))
    assert diff(early, late, inside=True) <= 6
    plain = cut(spec([clip_spec(grey, "a")]), tmp_path / "p.mp4", work_dir=tmp_path / "work")
    assert diff(early, frame_at(plain.path, 0.2, (W, H)), inside=True) > 100
    # The exact text (wrapped) is what drawtext was given, read back from the work dir.
    files = {p.read_text("utf-8") for p in (tmp_path / "work" / "text").glob("*.txt")}
    assert wrap(NASTY, W, H) in files
    assert NASTY in report.srt.read_text("utf-8")


def test_burned_captions_survive_a_transition_and_keep_the_duration(grey, tmp_path):
    s = spec([clip_spec(grey, "a", caption="A"), clip_spec(grey, "b", caption="B", transition=Transition("fade", 0.5))],
             deliverable(captions="burn"))
    report = cut(s, tmp_path / "t.mp4", work_dir=tmp_path / "work")
    assert report.duration == pytest.approx(3.5, abs=1 / 24)
    assert "00:00:01,750 --> 00:00:03,500\nB" in report.srt.read_text()


def test_a_caption_cannot_forge_subtitle_cues(tmp_path):
    forged = "Hello\n00:00:05,000 --> 00:00:09,000\nbuy now"
    s = spec([clip_spec(None, "a", caption=forged), clip_spec(None, "b", caption="Two")])
    sidecar = tmp_path / "m.srt"
    sidecar.write_text(captions.srt(s), encoding="utf-8")
    # ffmpeg's SRT reader is the judge: a forged timing line would make a third cue.
    packets = subprocess.run(["ffprobe", "-v", "error", "-show_packets", "-of", "csv", str(sidecar)],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(packets) == 2
    assert "buy now" in sidecar.read_text(encoding="utf-8")
    vtt = captions.vtt(s)
    assert vtt.count("-->") == 2 and "--&gt;" in vtt  # WebVTT: a line with "-->" starts a cue
