"""`reelmake export`: each deliverable's timeline as OTIO, FCPXML and EDL is the cut.

A real storyboard (trims, a dissolve and a wipe, a 40 s music bed with gain, fades and ducking under a
voice-over, captions, two deliverables at two rates) is rendered with the animatic backend and cut
once; every export is read back through OpenTimelineIO (natively, through the FCPXML adapter, through
the CMX 3600 adapter) and compared with the cut's report.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.edit.spec import BedSpec, ClipSpec, CutSpec, DeliverableSpec, Transition
from reelmake.engine.api import render
from reelmake.engine.project import Project
from reelmake.errors import StoryboardError
from reelmake.export.build import Media, ShotSource, build
from reelmake.export.formats import check_rate
from reelmake.fsutil import sha256_file
from tests.conftest import make_audio

SPOT = """\
reelmake: 1
title: Export spot
defaults: {backend: animatic, aspect_ratio: "16:9", duration: 2}
assets:
  bed: {audio: audio/bed.wav}
  vo: {audio: audio/vo.wav}
shots:
  - id: open
    prompt: A rooftop at dawn
    sound: true
    caption: "First light: it's here."
  - id: middle
    prompt: A runner laces up
    trim: [0.25, 1.75]
    transition: {type: dissolve, duration: 0.5}
  - id: close
    prompt: The runner leaps
    duration: 3
    trim: [0.5, 3]
    transition: {type: wipeleft, duration: 0.5}
    caption: Run the city.
soundtrack:
  - {asset: bed, volume: -12, fade_in: 1, fade_out: 1.5, duck: true}
  - {asset: vo, at: middle, offset: 0.25}
deliverables:
  - {name: master, size: 640x360, fps: 24}
  - {name: square, aspect_ratio: "1:1", size: 360x360, fps: 25, captions: burn}
"""
FORMATS = ("otio", "fcpxml", "edl")


@dataclass
class Spot:
    path: Path
    root: Path

    def project(self) -> Project:
        return Project.open(self.path)

    def report(self, deliverable: str) -> dict:
        return json.loads((self.root / "out" / "spot" / f"{deliverable}.json").read_text())


@pytest.fixture(scope="module")
def spot(tmp_path_factory, media) -> Spot:
    root = tmp_path_factory.mktemp("export") / "proj"
    shutil.copytree(media, root)
    (root / ".git").mkdir()
    make_audio(root / "audio" / "bed.wav", 40, 220)  # far longer than the 5 s cut
    path = root / "spot.yaml"
    path.write_text(SPOT)
    summary = render(path)
    assert summary.ok, summary.to_json()
    return Spot(path, root)


def read_back(path: Path, fps: float) -> otio.schema.Timeline:
    """The file as an editor's OpenTimelineIO would read it: natively or through the format's adapter
    (FCPXML times read exactly: the adapter's own parser truncates them, see export.formats)."""
    from reelmake.export.formats import read

    return read(path, {".otio": "otio", ".fcpxml": "fcpxml", ".edl": "edl"}[path.suffix], fps)


def video_track(timeline: otio.schema.Timeline) -> otio.schema.Track:
    (track,) = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video]
    return track


def shots_as_seen(timeline: otio.schema.Timeline) -> list[tuple[str, int, int]]:
    """(name, first frame, end frame) of each shot on the video track, the handles that transitions show
    included: what an editor sees of each shot."""
    track = video_track(timeline)
    rate = track.duration().rate
    out = []
    for clip in track.find_clips():
        placed = clip.trimmed_range_in_parent()
        start, end = placed.start_time, placed.end_time_exclusive()
        before, after = track.neighbors_of(clip)
        if isinstance(before, otio.schema.Transition):
            start -= before.in_offset
        if isinstance(after, otio.schema.Transition):
            end += after.out_offset
        out.append((clip.name, round(start.rescaled_to(rate).value), round(end.rescaled_to(rate).value)))
    return out


def report_frames(report: dict) -> tuple[list[tuple[str, int, int]], int]:
    fps = report["fps"]
    shots = [(s["shot_id"], round(s["timeline_in"] * fps), round(s["timeline_out"] * fps)) for s in report["shots"]]
    return shots, round(report["duration"] * fps)


def at_cut_points(shots: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The shots as a format without transitions shows them: each overlap split at its middle."""
    out = []
    for index, (name, start, end) in enumerate(shots):
        if index and start < shots[index - 1][2]:
            start += (shots[index - 1][2] - start) // 2
        if index + 1 < len(shots) and shots[index + 1][1] < end:
            end = shots[index + 1][1] + (end - shots[index + 1][1]) // 2
        out.append((name, start, end))
    return out


def url_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


# -- the export is the cut ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("deliverable", ["master", "square"])
def test_every_format_reads_back_with_the_shots_and_length_of_the_cut(spot, fmt, deliverable, tmp_path):
    exports = spot.project().export(fmt, deliverable=deliverable, out=tmp_path)
    assert exports.ok, exports.errors
    result = exports.results[""][deliverable]
    assert result.path == tmp_path / f"{deliverable}.{fmt}" and result.checked_against == "cut report"
    report = spot.report(deliverable)
    timeline = read_back(result.path, report["fps"])
    shots, total = report_frames(report)
    assert [s[1:] for s in shots] != [s[1:] for s in at_cut_points(shots)]  # the spot has transitions
    expected = at_cut_points(shots) if fmt == "fcpxml" else shots  # the FCPXML adapter writes no transitions
    assert shots_as_seen(timeline) == expected
    assert round(video_track(timeline).duration().value) == total
    assert video_track(timeline).duration().rate == report["fps"]


@pytest.mark.slow
def test_the_timeline_starts_at_zero_with_the_deliverables_rate_and_size(spot, tmp_path):
    result = spot.project().export("otio", deliverable="square", out=tmp_path).results[""]["square"]
    timeline = otio.adapters.read_from_file(str(result.path))
    assert timeline.global_start_time == otio.opentime.RationalTime(0, 25)
    assert {k: timeline.metadata["reelmake"][k] for k in ("width", "height", "fps")} == \
        {"width": 360, "height": 360, "fps": 25}
    edl = spot.project().export("edl", deliverable="square", out=tmp_path).results[""]["square"].path.read_text()
    first_event = next(line for line in edl.splitlines() if line.startswith("001"))
    assert first_event.split()[-2] == "00:00:00:00"  # record in of the first event


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["copy", "link", "cache"])
def test_media_paths_resolve_to_the_clips_the_cut_used(spot, mode, tmp_path):
    project = spot.project()
    store = {job.id.shot: project.workspace.clips.clip_path(job.key) for job in project.jobs[""] if not job.id.aspect}
    result = project.export("otio", deliverable="master", media=mode, out=tmp_path).results[""]["master"]
    timeline = otio.adapters.read_from_file(str(result.path))
    for clip in video_track(timeline).find_clips():
        path = url_path(clip.media_reference.target_url)
        assert path.is_file(), path
        if mode == "copy":
            assert path == tmp_path / "media" / f"{clip.name}.mp4" and not path.is_symlink()
            assert sha256_file(path) == sha256_file(store[clip.name])
        elif mode == "link":
            assert path == tmp_path / "media" / f"{clip.name}.mp4" and path.resolve() == store[clip.name].resolve()
        else:
            assert path == store[clip.name].resolve()
    beds = [c for t in timeline.tracks if t.name.startswith("A") for c in t.find_clips()]
    assert {c.name for c in beds} == {"bed", "vo"} and all(url_path(c.media_reference.target_url).is_file()
                                                          for c in beds)
    if mode != "cache":
        assert (tmp_path / "media" / "audio" / "bed.wav").exists()


@pytest.mark.slow
def test_an_export_the_cut_report_contradicts_is_not_written(spot, tmp_path):
    report_path = spot.root / "out" / "spot" / "master.json"
    saved = report_path.read_text()
    data = json.loads(saved)
    data["shots"][1]["timeline_out"] += 1 / 24
    try:
        report_path.write_text(json.dumps(data))
        exports = spot.project().export("otio", deliverable="master", out=tmp_path)
    finally:
        report_path.write_text(saved)
    assert "read back differently from the cut report" in exports.errors[""]["master"]
    assert "middle" in exports.errors[""]["master"]
    assert not list(tmp_path.glob("master.otio*"))


# -- what each format carries -------------------------------------------------------------------------


@pytest.mark.slow
def test_otio_keeps_transitions_sound_captions_and_where_each_clip_came_from(spot, tmp_path):
    project = spot.project()
    keys = {job.id.shot: job.key for job in project.jobs[""] if not job.id.aspect}
    timeline = otio.adapters.read_from_file(str(project.export("otio", deliverable="master", out=tmp_path)
                                                .results[""]["master"].path))
    video = video_track(timeline)
    transitions = [t for t in video if isinstance(t, otio.schema.Transition)]
    assert [(t.transition_type, t.metadata["reelmake"]["xfade"], t.in_offset.value, t.out_offset.value)
            for t in transitions] == [("SMPTE_Dissolve", "dissolve", 6, 6), ("SMPTE_Dissolve", "wipeleft", 6, 6)]
    middle, close = list(video.find_clips())[1:]
    # Trims at 24 fps: middle's source starts 6 frames (0.25 s) in, plus the 6 frames of its head handle.
    assert (middle.source_range.start_time.value, middle.source_range.duration.value) == (12, 24)
    assert (close.source_range.start_time.value, close.source_range.duration.value) == (18, 54)
    assert [m.name for m in close.markers] == ["wipeleft transition exported as a cross dissolve (12 frames)",
                                               "Run the city."]
    assert close.markers[1].marked_range == close.source_range  # the caption's cue is the shot's span
    info = middle.metadata["reelmake"]
    assert {k: info[k] for k in ("shot", "model", "backend", "render_key", "cost", "take")} == {
        "shot": "middle", "model": "animatic", "backend": "animatic", "render_key": keys["middle"],
        "cost": "0.000", "take": 1}
    assert list(info["trim"]) == [0.25, 1.75]
    assert info["prompt"].startswith("A runner laces up")
    (shot_audio,) = [t for t in timeline.tracks if t.name == "Shot audio"]
    assert [type(i).__name__ for i in shot_audio] == ["Clip", "Transition", "Gap", "Transition", "Gap"]
    (bed,) = [t for t in timeline.tracks if t.name == "A2 bed"]
    assert [type(i).__name__ for i in bed] == ["Transition", "Clip", "Transition"]
    fade_in, clip, fade_out = bed
    assert clip.source_range.duration.value == 120  # a 40 s bed under a 5 s cut is a 5 s clip
    assert (fade_in.out_offset.value, fade_out.in_offset.value) == (24, 36)
    assert [e.metadata["reelmake"]["gain_db"] for e in clip.effects] == [-12]
    assert "ducked" in clip.markers[0].name
    (vo_track,) = [t for t in timeline.tracks if t.name == "A3 vo"]
    (vo,) = vo_track.find_clips()
    assert vo.trimmed_range_in_parent().start_time.value == 42  # middle's first frame (36) + 0.25 s


@pytest.mark.slow
def test_fcpxml_keeps_clips_sound_and_markers_and_marks_what_it_cannot_carry(spot, tmp_path):
    path = spot.project().export("fcpxml", deliverable="master", out=tmp_path).results[""]["master"].path
    timeline = otio.adapters.read_from_file(str(path))
    clips = list(video_track(timeline).find_clips())
    markers = {c.name: [m.name for m in c.markers] for c in clips}
    assert any("dissolve transition of 12 frames" in m and "not carried by FCPXML" in m for m in markers["middle"])
    assert any("wipeleft transition of 12 frames" in m for m in markers["close"])
    assert "Run the city." in markers["close"]
    assert any("not the frame size" in m for m in markers["open"])
    audio = {c.name: c for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio for c in t.find_clips()}
    assert set(audio) == {"open", "bed", "vo"}
    assert audio["bed"].source_range.duration.value == 120
    assert any("gain -12 dB, fade in 1 s, fade out 1.5 s" in m.name for m in audio["bed"].markers)
    note = clips[1].media_reference.metadata["fcpx"]["note"]
    assert note.startswith("shot middle; model animatic; backend animatic; take 1; cost 0.000")


@pytest.mark.slow
def test_edl_has_dissolves_paths_and_metadata_as_comments_but_no_sound(spot, tmp_path):
    path = spot.project().export("edl", deliverable="master", out=tmp_path).results[""]["master"].path
    text = path.read_text()
    assert text.count(" D 012 ") == 2
    assert f"* TO CLIP: {(tmp_path / 'media' / 'middle.mp4').as_uri()}" in text
    assert "* LOC: 00:00:00:18 RED     WIPELEFT TRANSITION EXPORTED AS A CROSS DISSOLVE (12 FRAMES)" in text
    assert "NO SOUND: THE EDL ADAPTER WRITES THE PICTURE ONLY" in text and "BED (BED.WAV) AT 00:00:00:00" in text
    assert "* REELMAKE SHOT: middle" in text and "* REELMAKE MODEL: animatic" in text
    timeline = read_back(path, 24)
    assert [t.kind for t in timeline.tracks] == [otio.schema.TrackKind.Video]
    assert [c.name for c in video_track(timeline).find_clips()] == ["open", "middle", "close"]


@pytest.mark.slow
def test_captions_come_as_an_srt_beside_the_export(spot, tmp_path):
    result = spot.project().export("edl", deliverable="master", out=tmp_path).results[""]["master"]
    assert result.srt == tmp_path / "master.srt"
    srt = result.srt.read_text()
    assert "First light: it's here." in srt and "Run the city." in srt


@pytest.mark.slow
def test_take_and_approval_recorded_in_the_lock_are_on_the_clip(spot, tmp_path):
    lock = spot.path.with_suffix(".lock")
    saved = lock.read_text()
    try:
        project = spot.project()
        project.approve("middle", take=1, note="client pick", by="Ana")
        result = spot.project().export("otio", deliverable="master", out=tmp_path).results[""]["master"]
    finally:
        lock.write_text(saved)
    timeline = otio.adapters.read_from_file(str(result.path))
    clips = {c.name: c.metadata["reelmake"] for c in video_track(timeline).find_clips()}
    approval = dict(clips["middle"]["approval"])
    assert approval.pop("at").endswith("Z")
    assert approval == {"approved": True, "approved_take": 1, "by": "Ana", "note": "client pick"}
    assert "approval" not in clips["close"] and "approval" not in clips["open"]


@pytest.mark.slow
def test_the_cli_exports_every_deliverable_and_prints_what_was_not_carried(spot, tmp_path):
    result = CliRunner().invoke(main, ["export", str(spot.path), "--format", "fcpxml", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"master: {tmp_path / 'master.fcpxml'} (as the cut report places it)" in result.output
    assert "not carried: captions are burned into the cut's picture" in result.output  # square burns them
    assert "set the NLE's scaling to match" in result.output  # 16:9 clips in a 1:1 deliverable
    as_json = CliRunner().invoke(main, ["export", str(spot.path), "--format", "otio", "--deliverable", "master",
                                        "--media", "cache", "--out", str(tmp_path), "--json"])
    data = json.loads(as_json.stdout)
    assert data["exports"][""]["master"]["path"] == str(tmp_path / "master.otio") and data["errors"] == {}


# -- refusals -----------------------------------------------------------------------------------------


def test_unrendered_shots_and_unknown_deliverables_are_clear_errors(project):
    path = project.write("""\
        reelmake: 1
        title: Not rendered
        defaults: {backend: animatic, duration: 1}
        shots:
          - {id: one, prompt: A shot}
        """)
    result = CliRunner().invoke(main, ["export", str(path), "--format", "otio"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "master: " in result.output and "no clip for shot(s) one" in result.output
    assert "reelmake render" in result.output
    result = CliRunner().invoke(main, ["export", str(path), "--format", "otio", "--deliverable", "vertical"])
    assert result.exit_code == 1 and "no deliverable named 'vertical'; this storyboard has master" in result.output


@pytest.mark.parametrize(("fmt", "fps"), [("fcpxml", 23.976), ("fcpxml", 12), ("edl", 12), ("edl", 15)])
def test_rates_an_adapter_cannot_write_faithfully_are_refused(fmt, fps):
    with pytest.raises(StoryboardError, match="export OTIO"):
        check_rate(fmt, fps)


@pytest.mark.parametrize(("fmt", "fps"), [("fcpxml", 24), ("fcpxml", 25), ("fcpxml", 30), ("edl", 23.976),
                                          ("edl", 29.97), ("otio", 12)])
def test_rates_each_format_writes(fmt, fps):
    check_rate(fmt, fps)


# -- the layout, without media ------------------------------------------------------------------------


def layout(clips, beds=(), fps=24, bed_seconds=2.0):
    """Build a timeline from specs alone (no file is read)."""
    spec = CutSpec("t", tuple(clips), DeliverableSpec("master", 640, 360, fps), tuple(beds))
    shots = {c.shot_id: ShotSource(Media(f"file:///m/{c.shot_id}.mp4", c.duration, has_audio=False)) for c in clips}
    return build(spec, shots, [Media(f"file:///m/{b.name}.wav", bed_seconds) for b in beds]).otio


def clip(shot_id, duration=2.0, transition=None, trim=None):
    return ClipSpec(shot_id, Path(f"/m/{shot_id}.mp4"), "0" * 64, duration, trim,
                    Transition(transition[0], transition[1]) if transition else None)


def test_an_odd_transition_puts_the_extra_frame_after_the_cut():
    timeline = layout([clip("a"), clip("b", transition=("fade", 13 / 24))])
    a, fade, b = video_track(timeline)
    assert (fade.in_offset.value, fade.out_offset.value) == (6, 7)
    assert (a.source_range.duration.value, b.source_range.start_time.value) == (41, 6)
    assert shots_as_seen(timeline) == [("a", 0, 48), ("b", 35, 83)]


def test_a_looped_bed_repeats_its_file_to_the_end_and_a_late_one_is_left_out():
    beds = [BedSpec("loop", Path("/m/loop.wav"), "0" * 64, loop=True, fade_out=0.5),
            BedSpec("late", Path("/m/late.wav"), "0" * 64, start=30.0)]
    timeline = layout([clip("a", 5.0)], beds, bed_seconds=2.0)
    assert [t.name for t in timeline.tracks] == ["V1", "A2 loop"]
    loop = timeline.tracks[1]
    assert [(type(i).__name__, i.duration().value) for i in loop] == [
        ("Clip", 48), ("Clip", 48), ("Clip", 24), ("Transition", 12)]
    assert loop[-1].in_offset.value == 12


def test_fades_longer_than_the_item_are_cut_to_fit():
    bed = BedSpec("short", Path("/m/short.wav"), "0" * 64, fade_in=1.5, fade_out=1.5)
    timeline = layout([clip("a", 5.0)], [bed], bed_seconds=2.0)
    fade_in, item, fade_out = timeline.tracks[1]
    assert item.duration().value == 48 and (fade_in.out_offset.value, fade_out.in_offset.value) == (36, 12)
    assert (item.metadata["reelmake"]["fade_in"], item.metadata["reelmake"]["fade_out"]) == (1.5, 1.5)


# -- campaigns and the demo ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_campaign_gets_an_export_folder_per_variant(tmp_path):
    from tests.test_campaign import make
    from tests.test_campaign_render import CAMPAIGN, TEMPLATE

    path = make(tmp_path / "c", CAMPAIGN, TEMPLATE)
    (tmp_path / "c" / ".git").mkdir()
    assert render(path, cut=False).ok
    exports = Project.open(path).export("otio")
    assert exports.ok, exports.errors
    for variant, city in (("us", "Boston"), ("de", "Berlin")):
        result = exports.results[variant]["master"]
        assert result.path == tmp_path / "c" / "out" / "tiny" / variant / "export" / "master.otio"
        assert result.checked_against == "cut plan"  # not cut: checked against where the editor would put them
        timeline = otio.adapters.read_from_file(str(result.path))
        street = list(video_track(timeline).find_clips())[1]
        assert street.metadata["reelmake"]["prompt"].startswith(f"A street in {city}")


@pytest.mark.slow
def test_the_demo_exports_to_out_demo_export_as_the_cut(tmp_path):
    """The README's example: render the demo, then export its master to all three formats."""
    demo = tmp_path / "demo"
    shutil.copytree(Path(__file__).resolve().parents[1] / "storyboards" / "demo", demo,
                    ignore=shutil.ignore_patterns("*.lock"))
    (tmp_path / ".git").mkdir()  # the project root: out/ goes beside storyboards as in the repository
    path = demo / "demo.yaml"
    assert CliRunner().invoke(main, ["render", str(path), "--no-cut"]).exit_code == 0
    assert CliRunner().invoke(main, ["cut", str(path), "--deliverable", "master"]).exit_code == 0
    report = json.loads((tmp_path / "out" / "demo" / "master.json").read_text())
    shots, total = report_frames(report)
    for fmt in FORMATS:
        result = CliRunner().invoke(main, ["export", str(path), "--deliverable", "master", "--format", fmt])
        assert result.exit_code == 0, result.output
        exported = tmp_path / "out" / "demo" / "export" / f"master.{fmt}"
        timeline = read_back(exported, 24)
        assert shots_as_seen(timeline) == (at_cut_points(shots) if fmt == "fcpxml" else shots)
        assert video_track(timeline).duration().value == total == 396
    assert [s[0] for s in shots] == ["skyline", "lace-up", "leap", "landing", "packshot"]
