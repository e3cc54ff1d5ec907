"""The cut end to end on tiny generated clips: layout, transitions, reframing, slates, incremental."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from reelmake.edit import Transition, cut
from reelmake.errors import MediaError, StoryboardError

from .edit_media import clip_spec, deliverable, ffprobe, frame_at, make_clip, spec, video_frames


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("edit-media")
    return {
        "tone": make_clip(d / "tone.mp4", seconds=2.0),
        "silent": make_clip(d / "silent.mp4", seconds=2.0, tone=None, size="480x270", fps=30),
        "long": make_clip(d / "long.mp4", seconds=3.0, tone=660),
        # 16:9 picture: white centre third, black sides, to see which part a reframe keeps.
        "centre": _centre_clip(d / "centre.mp4"),
    }


def _centre_clip(path):
    from .edit_media import ffmpeg

    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=320x180:r=24:d=1",
           "-vf", "drawbox=x=0:y=0:w=110:h=180:color=black:t=fill,drawbox=x=210:y=0:w=110:h=180:color=black:t=fill",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))
    return path


def streams(path):
    data = ffprobe(path)
    video = next(s for s in data["streams"] if s["codec_type"] == "video")
    audio = [s for s in data["streams"] if s["codec_type"] == "audio"]
    return data, video, audio


def test_hard_cut_output_has_the_deliverable_layout_and_exact_duration(media, tmp_path):
    s = spec([clip_spec(media["tone"], "a"), clip_spec(media["silent"], "b"),
              clip_spec(media["long"], "c", seconds=3.0, trim=(0.5, 2.0))])
    report = cut(s, tmp_path / "out" / "master.mp4", work_dir=tmp_path / "work")
    data, video, audio = streams(tmp_path / "out" / "master.mp4")
    assert (video["width"], video["height"], video["avg_frame_rate"]) == (320, 180, "24/1")
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert int(video["nb_read_frames"]) == round((2 + 2 + 1.5) * 24)
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac"
    assert (int(audio[0]["sample_rate"]), audio[0]["channels"]) == (48000, 2)
    assert abs(float(audio[0]["duration"]) - 5.5) < 1 / 24
    assert report.duration == pytest.approx(5.5, abs=1 / 24)
    assert [(s.shot_id, s.timeline_in, s.timeline_out) for s in report.shots] == [
        ("a", 0.0, 2.0), ("b", 2.0, 4.0), ("c", 4.0, 5.5)]
    saved = json.loads((tmp_path / "out" / "master.json").read_text())
    assert saved["duration"] == report.duration and saved["shots"][2]["timeline_in"] == 4.0
    assert saved["loudness"] == report.loudness and saved["fps"] == 24.0
    assert (tmp_path / "out" / "master.jpg").stat().st_size > 0


def test_faststart_puts_the_index_before_the_media(media, tmp_path):
    cut(spec([clip_spec(media["tone"], "a")]), tmp_path / "m.mp4", work_dir=tmp_path / "work")
    head = (tmp_path / "m.mp4").read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


@pytest.mark.parametrize("kind", ["fade", "dissolve", "fadeblack", "wipeleft", "crossfade"])
def test_transitions_shorten_the_cut_by_exactly_their_duration(media, tmp_path, kind):
    s = spec([clip_spec(media["tone"], "a"), clip_spec(media["silent"], "b", transition=Transition(kind, 0.5)),
              clip_spec(media["long"], "c", seconds=3.0),
              clip_spec(media["tone"], "d", transition=Transition(kind, 0.25))], deliverable(size="160x90"))
    cut(s, tmp_path / "t.mp4", work_dir=tmp_path / "work")
    _, video, audio = streams(tmp_path / "t.mp4")
    expected = 2 + 2 + 3 + 2 - 0.5 - 0.25
    assert int(video["nb_read_frames"]) == round(expected * 24)
    assert abs(float(audio[0]["duration"]) - expected) < 1 / 24


def test_unknown_transition_and_too_long_transition_are_refused(media, tmp_path):
    bad = spec([clip_spec(media["tone"], "a"), clip_spec(media["tone"], "b", transition=Transition("spin", 0.5))])
    with pytest.raises(StoryboardError, match="b: unknown transition 'spin'"):
        cut(bad, tmp_path / "x.mp4", work_dir=tmp_path / "work")
    long = spec([clip_spec(media["tone"], "a"), clip_spec(media["tone"], "b", transition=Transition("fade", 2.0))])
    with pytest.raises(StoryboardError, match="shorter than both shots"):
        cut(long, tmp_path / "x.mp4", work_dir=tmp_path / "work")


def test_vertical_crop_from_16_9_keeps_the_centre(media, tmp_path):
    s = spec([clip_spec(media["centre"], "a", seconds=1.0)], deliverable("vertical", "90x160", reframe="crop"))
    cut(s, tmp_path / "v.mp4", work_dir=tmp_path / "work")
    _, video, _ = streams(tmp_path / "v.mp4")
    assert (video["width"], video["height"], video.get("sample_aspect_ratio", "1:1")) == (90, 160, "1:1")
    pixels = frame_at(tmp_path / "v.mp4", 0.5, (90, 160))
    assert sum(pixels) / len(pixels) > 200  # the white centre fills the frame


def test_pad_letterboxes_instead_of_cropping(media, tmp_path):
    s = spec([clip_spec(media["centre"], "a", seconds=1.0)], deliverable("square", "160x160", reframe="pad"))
    cut(s, tmp_path / "p.mp4", work_dir=tmp_path / "work")
    pixels = frame_at(tmp_path / "p.mp4", 0.5, (160, 160))
    rows = [pixels[y * 160:(y + 1) * 160] for y in range(160)]
    assert max(rows[5]) < 30 and max(rows[-5]) < 30  # black bars above and below
    assert max(rows[80]) > 200  # the picture in the middle


def test_draft_is_half_size_with_even_dimensions(media, tmp_path):
    s = spec([clip_spec(media["tone"], "a")], deliverable(size="322x182"))
    report = cut(s, tmp_path / "d.mp4", work_dir=tmp_path / "work", draft=True)
    assert (report.width, report.height, report.draft) == (160, 90, True)


def test_missing_shot_without_partial_names_it_and_suggests_partial(media, tmp_path):
    s = spec([clip_spec(media["tone"], "a"), clip_spec(None, "b", status="failed")])
    with pytest.raises(MediaError, match=r"b \(failed\).*--partial"):
        cut(s, tmp_path / "x.mp4", work_dir=tmp_path / "work")
    assert not (tmp_path / "x.mp4").exists()


def test_partial_puts_a_dark_slate_of_the_right_length(media, tmp_path):
    s = spec([clip_spec(media["tone"], "a"), clip_spec(None, "b", seconds=1.5, status="failed"),
              clip_spec(media["tone"], "c")])
    report = cut(s, tmp_path / "s.mp4", work_dir=tmp_path / "work", partial=True)
    assert video_frames(tmp_path / "s.mp4") == round(5.5 * 24)
    assert [x.status for x in report.shots] == ["rendered", "slate:failed", "rendered"]
    slate = frame_at(tmp_path / "s.mp4", 2.75, (320, 180))
    assert sum(slate) / len(slate) < 60  # dark background
    assert max(slate) > 200  # with the shot id and status written on it


def test_nothing_changed_reuses_the_output_without_touching_it(media, tmp_path):
    s = spec([clip_spec(media["tone"], "a", caption="hi"), clip_spec(media["silent"], "b")])
    out = tmp_path / "r.mp4"
    first = cut(s, out, work_dir=tmp_path / "work")
    stamp = out.stat().st_mtime_ns
    again = cut(s, out, work_dir=tmp_path / "work")
    assert again.reused and not first.reused
    assert out.stat().st_mtime_ns == stamp and again.sha256 == first.sha256
    changed = cut(dataclasses.replace(s, clips=(s.clips[0], dataclasses.replace(s.clips[1], caption="new"))),
                  out, work_dir=tmp_path / "work")
    assert not changed.reused and changed.built == []  # a sidecar caption re-cuts, re-encodes nothing


def test_a_tampered_output_is_cut_again(media, tmp_path):
    s = spec([clip_spec(media["tone"], "a")])
    out = tmp_path / "r.mp4"
    cut(s, out, work_dir=tmp_path / "work")
    out.write_bytes(out.read_bytes()[:-10])
    assert not cut(s, out, work_dir=tmp_path / "work").reused


@pytest.mark.slow
def test_changing_one_of_ten_shots_rebuilds_only_its_intermediate(tmp_path):
    clips = [make_clip(tmp_path / f"c{i}.mp4", seconds=1.0, size="160x90", tone=300 + 50 * i) for i in range(10)]
    deliv = deliverable(size="160x90")
    s = spec([clip_spec(p, f"s{i}", seconds=1.0) for i, p in enumerate(clips)], deliv)
    first = cut(s, tmp_path / "out.mp4", work_dir=tmp_path / "work")
    assert len(first.built) == 10
    # Reused pieces are touched (so `reelmake gc` keeps them) but never rewritten: same inode.
    stamps = {p.name: p.stat().st_ino for p in (tmp_path / "work" / "clips").glob("*.mov")}
    replacement = make_clip(tmp_path / "new.mp4", seconds=1.0, size="160x90", tone=999)
    edited = dataclasses.replace(s, clips=s.clips[:4] + (clip_spec(replacement, "s4", seconds=1.0),) + s.clips[5:])
    second = cut(edited, tmp_path / "out.mp4", work_dir=tmp_path / "work")
    assert second.built == ["s4"] and not second.reused
    assert all(p.stat().st_ino == stamps[p.name] for p in (tmp_path / "work" / "clips").glob("*.mov")
               if p.name in stamps)
    assert len(list((tmp_path / "work" / "clips").glob("*.mov"))) == 11
    assert video_frames(tmp_path / "out.mp4") == 240


@pytest.mark.slow
def test_two_cuts_sharing_a_work_dir_at_once_both_succeed(media, tmp_path):
    s = spec([clip_spec(media["tone"], "a"), clip_spec(media["long"], "b", seconds=3.0)])
    errors = []

    def run(name):
        try:
            cut(s, tmp_path / name, work_dir=tmp_path / "work")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"{i}.mp4",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert video_frames(tmp_path / "0.mp4") == video_frames(tmp_path / "1.mp4") == 120
    assert not list((tmp_path / "work" / "clips").glob(".*"))  # no temp files left behind
