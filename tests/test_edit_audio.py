"""The soundtrack: loudness normalisation, true-peak ceiling, ducking, bed placement, silence."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmake.edit import BedSpec, MixSpec, cut
from reelmake.fsutil import sha256_file

from .edit_media import clip_spec, ebur128, ffmpeg, levels, make_clip, make_tone, spec

SIZE = "160x90"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("edit-audio")
    clicks = d / "clicks.wav"
    # A quiet tone with near full-scale clicks: a plain gain up to the target would clip them.
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.15*sin(2*PI*440*t)+if(lt(mod(t\\,0.5)\\,0.001)\\,0.9\\,0):s=48000:d=4",
           "-ac", "2", str(clicks))
    # Real (synthetic) speech: the demo's voice-over, where loudnorm's dynamic mode landed 2 LU short.
    spiky = Path(__file__).resolve().parents[1] / "storyboards" / "demo" / "audio" / "vo.m4a"
    return {
        "spiky": spiky,
        "voice": make_clip(d / "voice.mp4", seconds=2.0, size=SIZE, tone=1000),
        "quiet": make_clip(d / "quiet.mp4", seconds=2.0, size=SIZE, tone=None),
        "bed": make_tone(d / "bed.wav", seconds=1.5, freq=220, volume_db=-6),
        "clicks": clicks,
    }


def bed(path, **kw):
    return BedSpec(name=path.stem, path=path, sha256=sha256_file(path), **kw)


def test_output_hits_the_loudness_target_with_true_peak_under_the_ceiling(media, tmp_path):
    s = spec([clip_spec(media["voice"], "a"), clip_spec(media["quiet"], "b")],
             beds=(bed(media["bed"], loop=True, volume_db=-3),), mix=MixSpec(loudness=-16, true_peak=-1))
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    integrated, peak = ebur128(tmp_path / "o.mp4")
    assert integrated == pytest.approx(-16, abs=1.0)
    assert peak <= -1.0
    assert report.loudness == pytest.approx(integrated, abs=0.15) and report.true_peak == pytest.approx(peak, abs=0.15)
    assert report.normalization == "linear"


def test_hot_material_is_held_under_the_true_peak_ceiling(media, tmp_path):
    s = spec([clip_spec(media["quiet"], "a"), clip_spec(media["quiet"], "b")], beds=(bed(media["clicks"]),),
             mix=MixSpec(loudness=-14, true_peak=-2))
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    integrated, peak = ebur128(tmp_path / "o.mp4")
    assert peak <= -2.0
    assert integrated == pytest.approx(-14, abs=1.0)
    assert report.normalization == "limited"  # a plain gain would have crossed the ceiling


def test_peaky_speech_still_reaches_the_target(media, tmp_path):
    s = spec([clip_spec(media["quiet"], "a"), clip_spec(media["quiet"], "b")], beds=(bed(media["spiky"]),),
             mix=MixSpec(loudness=-14, true_peak=-1))
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    integrated, peak = ebur128(tmp_path / "o.mp4")
    assert integrated == pytest.approx(-14, abs=1.0) and peak <= -1.0
    assert report.normalization == "limited"


def test_ducked_bed_is_lower_under_shot_audio_than_between_shots(media, tmp_path):
    s = spec([clip_spec(media["quiet"], "a"), clip_spec(media["voice"], "b"), clip_spec(media["quiet"], "c")],
             beds=(bed(media["bed"], loop=True, duck=True),))
    cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    between = levels(tmp_path / "o.mp4", 0.8, 1.8, band=220)
    under = levels(tmp_path / "o.mp4", 2.8, 3.8, band=220)
    after = levels(tmp_path / "o.mp4", 4.8, 5.8, band=220)
    assert under < between - 6 and under < after - 6


def test_unducked_bed_keeps_its_level_under_shot_audio(media, tmp_path):
    s = spec([clip_spec(media["quiet"], "a"), clip_spec(media["voice"], "b")],
             beds=(bed(media["bed"], loop=True, duck=False),))
    cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    between = levels(tmp_path / "o.mp4", 0.8, 1.8, band=220)
    under = levels(tmp_path / "o.mp4", 2.8, 3.8, band=220)
    assert abs(under - between) < 1.5


def test_bed_at_a_shot_plus_offset_starts_there_and_plays_once(media, tmp_path):
    s = spec([clip_spec(media["quiet"], "a"), clip_spec(media["quiet"], "b"), clip_spec(media["quiet"], "c")],
             beds=(bed(media["bed"], at="b", offset=0.5),))
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    out = tmp_path / "o.mp4"
    assert levels(out, 0.2, 2.3, band=220) < -60  # silent before shot b + 0.5 s
    assert levels(out, 2.7, 3.8) > -40  # the bed's 1.5 s from 2.5 s
    assert levels(out, 4.2, 5.8) < -60  # not looped
    assert report.loudness is not None


def test_looped_bed_fills_the_timeline_and_fades_out(media, tmp_path):
    s = spec([clip_spec(media["quiet"], "a"), clip_spec(media["quiet"], "b")],
             beds=(bed(media["bed"], loop=True, fade_out=1.0),), mix=MixSpec(shot_audio=False))
    cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    steady = levels(tmp_path / "o.mp4", 2.0, 2.8)
    fading = levels(tmp_path / "o.mp4", 3.5, 3.95)
    assert steady > -40 and fading < steady - 6


def test_silent_timeline_gets_a_silent_track_and_no_loudness(media, tmp_path):
    s = spec([clip_spec(media["quiet"], "a"), clip_spec(media["voice"], "b")], mix=MixSpec(shot_audio=False))
    report = cut(s, tmp_path / "o.mp4", work_dir=tmp_path / "work")
    assert report.loudness is None and report.true_peak is None and report.normalization is None
    assert report.audio_codec == "aac"
    assert levels(tmp_path / "o.mp4", 0, 4) == float("-inf")


def test_bed_at_an_unknown_shot_or_missing_file_is_refused_before_encoding(media, tmp_path):
    from reelmake.errors import MediaError, StoryboardError

    clips = [clip_spec(media["quiet"], "a")]
    with pytest.raises(StoryboardError, match="vo: at names shot 'nope'"):
        cut(spec(clips, beds=(BedSpec("vo", media["bed"], "h", at="nope"),)), tmp_path / "o.mp4",
            work_dir=tmp_path / "work")
    with pytest.raises(MediaError, match="gone.wav does not exist"):
        cut(spec(clips, beds=(BedSpec("m", tmp_path / "gone.wav", "h"),)), tmp_path / "o.mp4",
            work_dir=tmp_path / "work")
    assert not (tmp_path / "work").exists()
