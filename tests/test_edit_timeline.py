"""Timeline arithmetic, caption sidecar text and the cut key: pure, no ffmpeg."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reelmake.edit import TRANSITIONS, BedSpec, ClipSpec, MixSpec, Transition, cut_key, timeline
from reelmake.edit.captions import srt, vtt
from reelmake.edit.timeline import bed_start, groups, place

from .edit_media import deliverable, spec


def clip(shot_id: str, seconds: float = 2.0, sha: str = "0" * 64, **kw) -> ClipSpec:
    return ClipSpec(shot_id=shot_id, path=Path(f"/clips/{shot_id}.mp4"), sha256=sha, duration=seconds, **kw)


def test_hard_cuts_lay_shots_end_to_end_honouring_trim():
    s = spec([clip("a", 2), clip("b", 5, trim=(0.5, 3.5)), clip("c", 1.5)])
    assert timeline(s) == [("a", 0.0, 2.0), ("b", 2.0, 5.0), ("c", 5.0, 6.5)]


def test_transition_overlaps_clips_and_shortens_the_timeline_by_its_duration():
    s = spec([clip("a", 2), clip("b", 3, transition=Transition("fade", 0.5)), clip("c", 2)])
    assert timeline(s) == [("a", 0.0, 2.0), ("b", 1.5, 4.5), ("c", 4.5, 6.5)]


def test_timeline_positions_are_whole_frames():
    s = spec([clip("a", 1.01), clip("b", 1.0)], deliverable(fps=25))
    (_, _, out_a), (_, in_b, _) = timeline(s)
    assert out_a == in_b == 1.0  # 1.01 s rounds to 25 frames at 25 fps


def test_srt_cues_equal_the_timeline_for_hard_cuts():
    s = spec([clip("a", 2, caption="First"), clip("b", 1.25), clip("c", 3, caption="Third")])
    assert srt(s) == (
        "1\n00:00:00,000 --> 00:00:02,000\nFirst\n\n"
        "2\n00:00:03,250 --> 00:00:06,250\nThird\n"
    )


def test_caption_cues_split_at_the_middle_of_a_transition():
    s = spec([clip("a", 2, caption="A"), clip("b", 2, caption="B", transition=Transition("dissolve", 0.5))])
    assert vtt(s) == "WEBVTT\n\n00:00:00.000 --> 00:00:01.750\nA\n\n00:00:01.750 --> 00:00:03.500\nB\n"


def test_vtt_escapes_markup_and_sidecars_drop_blank_lines():
    s = spec([clip("a", 1, caption="Fish & <chips>\n\nsecond line")])
    assert "Fish &amp; &lt;chips&gt;\nsecond line" in vtt(s)
    assert "Fish & <chips>\nsecond line\n" in srt(s)


def test_bed_at_a_shot_starts_at_that_shots_first_frame_plus_offset():
    beds = (BedSpec("vo", Path("vo.wav"), "1", at="b", offset=0.5), BedSpec("m", Path("m.wav"), "2", start=1.25))
    s = spec([clip("a", 2), clip("b", 2, transition=Transition("fade", 1.0))], beds=beds)
    assert bed_start(s, 0) == pytest.approx(1.5)
    assert bed_start(s, 1) == pytest.approx(1.25)


def test_runs_split_at_hard_cuts():
    s = spec([clip("a"), clip("b", transition=Transition("fade", 0.5)), clip("c"), clip("d"),
              clip("e", transition=Transition("wipeleft", 0.5))])
    assert groups(s) == [[0, 1], [2], [3, 4]]


def test_transitions_list_has_xfade_names_and_the_crossfade_alias():
    for name in ("fade", "dissolve", "fadeblack", "fadewhite", "wipeleft", "wiperight", "slideleft", "crossfade"):
        assert name in TRANSITIONS


def test_cut_key_changes_with_what_decides_the_output_and_ignores_paths():
    base = spec([clip("a", caption="x"), clip("b")], beds=(BedSpec("m", Path("m.wav"), "h1"),))
    key = cut_key(base, draft=False)
    moved = dataclasses.replace(base, clips=tuple(dataclasses.replace(c, path=Path("/elsewhere") / c.path.name)
                                                  for c in base.clips))
    assert cut_key(moved, draft=False) == key
    variants = [
        dataclasses.replace(base, clips=(dataclasses.replace(base.clips[0], sha256="1" * 64), base.clips[1])),
        dataclasses.replace(base, clips=(dataclasses.replace(base.clips[0], caption="y"), base.clips[1])),
        dataclasses.replace(base, beds=(BedSpec("m", Path("m.wav"), "h2"),)),
        dataclasses.replace(base, mix=MixSpec(loudness=-16)),
        dataclasses.replace(base, deliverable=dataclasses.replace(base.deliverable, quality=23)),
    ]
    assert len({cut_key(v, draft=False) for v in variants} | {key, cut_key(base, draft=True)}) == 7


def test_frame_rounding_is_spread_over_the_cut_never_accumulated():
    # 0.5 s is 12.5 frames at 25 fps: the two transitions take 13 and 12, and the cut is exactly
    # round(16 − 1) s = 375 frames (rounding each transition alone gave 12 + 12 and 15.04 s).
    s = spec([clip("a", 5), clip("b", 5.5, transition=Transition("fade", 0.5)),
              clip("c", 5.5, transition=Transition("fade", 0.5))], deliverable(fps=25))
    placements = place(s)
    assert [p.transition_frames for p in placements] == [0, 13, 12]
    assert placements[-1].end == 375


def test_many_shots_of_a_fractional_frame_count_add_up_exactly():
    s = spec([clip(f"s{i}", 1.01) for i in range(50)], deliverable(fps=24))
    assert place(s)[-1].end == round(50 * 1.01 * 24)  # 1212, not 50 × 24
