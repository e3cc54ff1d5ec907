"""The animatic backend renders real, exact, deterministic preview clips with ffmpeg.

Every test renders tiny clips (160x90 to 320x320, 1-2 s) from media generated here with ffmpeg.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import tempfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from reelmake.jobs import InputFile, JobId, RenderJob, file_ref
from reelmake.plugins import LocalBackend, create_backend
from reelmake.backends.animatic.backend import AnimaticBackend, render_animatic, shot_card
from reelmake.backends.animatic.graph import Fonts
from reelmake.errors import BackendError, BackendUnavailable

NASTY = "It's 100% \"real\": a\\b [x],y; {z} %{pts} %s $HOME `id`\ttab\nnew line Привет 日本 émoji 🎬 ‮rtl"


def _ffmpeg(*args: str) -> bytes:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y", *args],
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def _streams(path: Path) -> dict[str, dict]:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def _frame_hashes(path: Path) -> list[str]:
    """md5 of every decoded video frame: equal pixels, whatever the encoder's bytes."""
    text = _ffmpeg("-i", str(path), "-map", "0:v", "-f", "framemd5", "-").decode()
    return [line.rsplit(",", 1)[1].strip() for line in text.splitlines() if line and not line.startswith("#")]


def _rgb_frame(path: Path, n: int) -> tuple[int, int, bytes]:
    info = _streams(path)["video"]
    raw = _ffmpeg("-i", str(path), "-vf", f"select=eq(n\\,{n})", "-frames:v", "1",
                  "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
    return info["width"], info["height"], raw


def _pixel(frame: tuple[int, int, bytes], x: int, y: int) -> tuple[int, int, int]:
    w, _, raw = frame
    i = 3 * (y * w + x)
    return raw[i], raw[i + 1], raw[i + 2]


def _count(frame: tuple[int, int, bytes], pred) -> int:
    raw = frame[2]
    return sum(1 for i in range(0, len(raw), 3) if pred(raw[i], raw[i + 1], raw[i + 2]))


def _red(r: int, g: int, b: int) -> bool:
    return r > 180 and g < 70 and b < 70


def _blue(r: int, g: int, b: int) -> bool:
    return b > 180 and r < 70 and g < 70


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("animatic-media")
    out = {
        "blue": d / "blue.png",
        "red": d / "red.jpg",
        "pattern": d / "pattern.png",
        "green_video": d / "green.mp4",
        # A file name that would break an unescaped filter graph or an image2 pattern.
        "nasty": d / "we'ird: 100%d [name], ok;.png",
    }
    _ffmpeg("-f", "lavfi", "-i", "color=c=0x0000ff:s=200x150", "-frames:v", "1", str(out["blue"]))
    _ffmpeg("-f", "lavfi", "-i", "color=c=0xff0000:s=120x160", "-frames:v", "1", "-q:v", "2", str(out["red"]))
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240", "-frames:v", "1", str(out["pattern"]))
    _ffmpeg("-f", "lavfi", "-i", "color=c=0x00ff00:s=192x108:r=25:d=1",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out["green_video"]))
    out["nasty"].write_bytes(out["blue"].read_bytes())
    # Anamorphic: 90x90 stored, 160x90 displayed; red top band, blue bottom band.
    out["anamorphic"] = d / "anamorphic.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=0x00ff00:s=90x90:r=25:d=1",
            "-vf", "drawbox=y=0:h=20:color=0xff0000:t=fill,drawbox=y=70:h=20:color=0x0000ff:t=fill,setsar=16/9",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out["anamorphic"]))
    return out


def make_job(media: dict[str, Path] | None = None, *, images: tuple[str, ...] = (), labels: tuple[str, ...] = (),
             video: str | None = None, urls: tuple[str, ...] = (), shot: str = "lace-up",
             prompt: str = "The runner in Figure 1 laces up at dawn. Style: 35mm film",
             duration: float = 1.0, size: tuple[int, int] = (320, 180), fps: int | str = 24,
             sound: bool = False, segments: tuple[dict, ...] = ()) -> RenderJob:
    """A RenderJob exactly as the compiler builds it for the animatic (key and cost are dummies)."""
    files: dict[str, InputFile] = {}

    def ref(name: str, kind: str) -> str:
        path = media[name]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files[digest] = InputFile(sha256=digest, path=path, kind=kind, name=name)
        return file_ref(digest)

    refs = [ref(name, "image") for name in images] + list(urls)
    video_ref = None if video is None else video if video.startswith("https://") else ref(video, "video")
    w, h = size
    request = {"shot": shot, "prompt": prompt, "duration": duration, "aspect_ratio": f"{w}:{h}",
               "width": w, "height": h, "fps": fps, "images": refs,
               "labels": list(labels) or [f"ref{i}" for i in range(len(refs))],
               "video": video_ref, "sound": sound, "segments": list(segments)}
    return RenderJob(id=JobId(shot), key="0" * 64, backend="animatic", model="animatic", endpoint="animatic",
                     request=request, files=files, duration=duration, aspect_ratio=request["aspect_ratio"],
                     sound=sound, mode="sound" if sound else "base", cost=Decimal("0"))


def render(job: RenderJob, tmp_path: Path, name: str = "clip.mp4", **kwargs) -> Path:
    dest = tmp_path / name
    render_animatic(job, dest, **kwargs)
    return dest


@pytest.mark.parametrize(
    ("size", "fps", "duration", "frames"),
    [((320, 180), 24, 1.5, 36),      # 16:9
     ((180, 320), 30, 1.0, 30),      # 9:16
     ((240, 240), 25, 1.3, 32),      # 1:1, 32.5 frames rounds to even
     ((320, 240), "30000/1001", 1.0, 30),  # 4:3 at NTSC rate
     ((160, 90), 60, 0.5, 30)],  # a rate above the still inputs' default 25
    ids=["16:9", "9:16", "1:1", "4:3-ntsc", "60fps"],
)
def test_clip_has_exact_size_rate_and_frame_count(media, tmp_path, size, fps, duration, frames):
    clip = render(make_job(media, images=("pattern", "red"), size=size, fps=fps, duration=duration), tmp_path)
    v = _streams(clip)["video"]
    assert (v["width"], v["height"]) == size
    assert Fraction(v["r_frame_rate"]) == Fraction(str(fps))
    assert int(v["nb_read_frames"]) == frames
    assert abs(float(v["duration"]) - frames / Fraction(str(fps))) < 1e-3
    assert (v["codec_name"], v["pix_fmt"]) == ("h264", "yuv420p")
    # Every frame is its own (the progress bar moves each frame): no frame was duplicated to fill
    # the rate, none dropped.
    assert len(set(_frame_hashes(clip))) == frames


def test_sound_adds_a_quiet_stereo_aac_bed_as_long_as_the_picture(media, tmp_path):
    clip = render(make_job(media, images=("blue",), sound=True, duration=1.5), tmp_path)
    a = _streams(clip)["audio"]
    assert (a["codec_name"], int(a["sample_rate"]), int(a["channels"])) == ("aac", 48000, 2)
    assert abs(float(a["duration"]) - 1.5) < 0.03
    stats = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(clip), "-map", "0:a",
                            "-af", "volumedetect", "-f", "null", "-"], capture_output=True, text=True).stderr
    peak = float(stats.split("max_volume:")[1].split("dB")[0])
    assert -36 < peak < -24, stats  # audible signal, well below any dialogue or music


def test_no_sound_means_no_audio_stream(media, tmp_path):
    clip = render(make_job(media, images=("blue",), sound=False), tmp_path)
    assert set(_streams(clip)) == {"video"}


def test_first_image_fills_the_frame_and_others_become_thumbnails(media, tmp_path):
    only_blue = render(make_job(media, images=("blue",)), tmp_path, "a.mp4")
    with_red = render(make_job(media, images=("blue", "red")), tmp_path, "b.mp4")
    frame = _rgb_frame(with_red, 12)
    w, h, _ = frame
    assert _blue(*_pixel(frame, w // 2, h // 3))  # cover-scaled: no letterbox at the centre
    assert _count(_rgb_frame(only_blue, 12), _red) == 0
    assert _count(frame, _red) > 0.005 * w * h  # the red reference shows, small


def test_reference_video_is_the_picture_looped_to_the_duration(media, tmp_path):
    # The 1 s green video must fill a 2 s shot; the blue image becomes a thumbnail.
    clip = render(make_job(media, images=("blue",), video="green_video", duration=2.0), tmp_path)
    assert int(_streams(clip)["video"]["nb_read_frames"]) == 48
    for n in (5, 40):  # first pass and the loop
        r, g, b = _pixel(_rgb_frame(clip, n), 160, 60)
        assert g > 180 and r < 70 and b < 70, (n, r, g, b)


def test_anamorphic_reference_video_keeps_its_display_aspect(media, tmp_path):
    # Covering 320x180 from the displayed 160x90 keeps the red and blue bands; from the stored
    # 90x90 square it would crop them away.
    frame = _rgb_frame(render(make_job(media, video="anamorphic", prompt=""), tmp_path), 3)
    assert _red(*_pixel(frame, 160, 12)) and _blue(*_pixel(frame, 160, 165))


@pytest.mark.parametrize("picture", ["video", "card"])
def test_every_picture_source_gives_distinct_frames_at_a_high_rate(media, tmp_path, picture):
    # 25 fps video (or a generated card) into a 60 fps shot: no frame repeated or lost on the way.
    job = make_job(media, video="green_video" if picture == "video" else None, size=(160, 90), fps=60,
                   duration=0.5, sound=True)
    hashes = _frame_hashes(render(job, tmp_path))
    assert len(hashes) == len(set(hashes)) == 30


def test_no_references_gives_a_colour_card(media, tmp_path):
    clip = render(make_job(media, prompt="An empty rooftop"), tmp_path)
    assert int(_streams(clip)["video"]["nb_read_frames"]) == 24


def test_remote_references_become_placeholders_without_network(media, tmp_path):
    # A .invalid host cannot resolve: if ffmpeg were asked to fetch it, the render would fail.
    job = make_job(media, urls=("https://example.invalid/a.png", "https://example.invalid/b.png"),
                   video="https://example.invalid/ref.mp4")
    clip = render(job, tmp_path)
    assert int(_streams(clip)["video"]["nb_read_frames"]) == 24


def test_nasty_text_and_paths_render_literally(media, tmp_path, monkeypatch):
    # Text files and fonts land in a temp dir whose name needs both levels of filter escaping.
    weird_tmp = tmp_path / "tmp dir: it's [a], b; c\\d"
    weird_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(weird_tmp))
    job = make_job(media, images=("nasty", "red"), labels=(NASTY, "日本語のラベル"), prompt=NASTY * 3,
                   shot="shot:'1'%{n}", segments=({"prompt": NASTY, "duration": 0.5},
                                                  {"prompt": "\\'%", "duration": 0.5}))
    clip = render(job, tmp_path)
    assert int(_streams(clip)["video"]["nb_read_frames"]) == 24
    with_plain_text = render(make_job(media, images=("nasty", "red")), tmp_path, "plain.mp4")
    assert _frame_hashes(clip) != _frame_hashes(with_plain_text)


def test_same_job_renders_the_same_pixels(media, tmp_path):
    job = make_job(media, images=("pattern", "red"), sound=True,
                   segments=({"prompt": "one", "duration": 0.5}, {"prompt": "two", "duration": 0.5}))
    assert _frame_hashes(render(job, tmp_path, "a.mp4")) == _frame_hashes(render(job, tmp_path, "b.mp4"))


def test_colour_card_is_deterministic_too(media, tmp_path):
    job = make_job(media)
    assert _frame_hashes(render(job, tmp_path, "a.mp4")) == _frame_hashes(render(job, tmp_path, "b.mp4"))


def test_a_different_prompt_changes_the_pixels(media, tmp_path):
    a = render(make_job(media, images=("pattern",), prompt="A runner at dawn"), tmp_path, "a.mp4")
    b = render(make_job(media, images=("pattern",), prompt="A runner at dusk"), tmp_path, "b.mp4")
    assert all(x != y for x, y in zip(_frame_hashes(a), _frame_hashes(b), strict=True))


def test_segment_text_shows_only_while_its_segment_plays(media, tmp_path):
    def frames(second: str, name: str) -> list[str]:
        segments = ({"prompt": "She kneels", "duration": 0.5}, {"prompt": second, "duration": 0.5})
        return _frame_hashes(render(make_job(media, images=("pattern",), segments=segments), tmp_path, name))

    a, b = frames("She runs", "a.mp4"), frames("She jumps", "b.mp4")
    assert a[:12] == b[:12]  # frames 0-11: the shared first segment
    assert all(x != y for x, y in zip(a[12:], b[12:], strict=True))


def test_still_picture_pushes_in(media, tmp_path):
    clip = render(make_job(media, images=("pattern",), duration=2.0), tmp_path, has_drawtext=False)
    # Compare the middle of the picture, away from the progress bar: the zoom changes it.
    first, last = (_ffmpeg("-i", str(clip), "-vf", f"select=eq(n\\,{n}),crop=160:90:80:45", "-frames:v", "1",
                           "-f", "rawvideo", "-") for n in (0, 47))
    assert first != last


def test_renders_with_ffmpegs_default_font_when_no_font_file_is_known(media, tmp_path):
    clip = render(make_job(media, images=("pattern", "red")), tmp_path, fonts=Fonts())
    assert int(_streams(clip)["video"]["nb_read_frames"]) == 24


def test_renders_without_drawtext_support(media, tmp_path):
    clip = render(make_job(media, images=("pattern", "red"), sound=True), tmp_path, has_drawtext=False)
    assert set(_streams(clip)) == {"video", "audio"}


def test_malformed_requests_fail_with_the_shot_named(media):
    with pytest.raises(BackendError, match=r"shot 'lace-up'.*321x180.*even"):
        shot_card(make_job(media, size=(321, 180)))
    job = make_job(media, images=("blue",))
    broken = RenderJob(**{**job.__dict__, "files": {}})
    with pytest.raises(BackendError, match=r"shot 'lace-up'.*no such file"):
        shot_card(broken)


def test_a_missing_reference_file_is_a_backend_error(media, tmp_path):
    job = make_job(media, images=("blue",))
    (ref,) = job.files.values()
    missing = InputFile(ref.sha256, tmp_path / "gone.png", "image", "x")
    gone = RenderJob(**{**job.__dict__, "files": {ref.sha256: missing}})
    out = tmp_path / "out"
    with pytest.raises(BackendError, match="lace-up"):
        render(gone, out)
    assert not out.exists() or not any(out.iterdir())  # no clip, no half-written temp file


def test_backend_protocol_runs_off_the_event_loop_and_reports_status(media, tmp_path):
    backend = create_backend("animatic", {}, tmp_path)
    assert isinstance(backend, AnimaticBackend) and isinstance(backend, LocalBackend)
    assert (backend.name, backend.remote) == ("animatic", False)
    job = make_job(media, images=("blue",), sound=True)
    backend.preflight([job])
    statuses: list[tuple[str, str]] = []

    async def main() -> None:
        await backend.run(job, tmp_path / "out.mp4", lambda state, detail: statuses.append((state, detail)))
        await backend.aclose()

    asyncio.run(main())
    assert statuses and statuses[0][0] == "running"
    assert int(_streams(tmp_path / "out.mp4")["video"]["nb_read_frames"]) == 24


def test_preflight_without_ffmpeg_says_how_to_install_it(media, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendUnavailable, match="apt-get install"):
        AnimaticBackend({}).preflight([make_job(media)])


def test_the_same_reference_twice_draws_two_thumbnails(media, tmp_path):
    # The same file as background and as two thumbnails: three inputs, not one node with three consumers.
    clip = render(make_job(media, images=("blue", "red", "red"), labels=("a", "b", "c")), tmp_path)
    once = render(make_job(media, images=("blue", "red", "blue"), labels=("a", "b", "c")), tmp_path, "once.mp4")
    assert _count(_rgb_frame(clip, 12), _red) > 1.8 * _count(_rgb_frame(once, 12), _red)
