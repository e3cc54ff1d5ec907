"""The local Wan 2.1 VACE backend: settings checks, clip encoding, and real renders with a tiny
random-weight pipeline loaded through ``from_pretrained``, offline (``HF_HUB_OFFLINE=1``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from reelmake.jobs import InputFile, JobId, RenderJob, file_ref
from reelmake.backends.local_wan.backend import LocalWanBackend, encode_clip
from reelmake.backends.local_wan.settings import check_settings, extra_installed, num_frames_for
from reelmake.errors import BackendError, BackendUnavailable
from reelmake.fsutil import sha256_file
from reelmake.media import probe, run_ffmpeg

SRC = Path(__file__).resolve().parents[1] / "src"
NEEDS_EXTRA = "needs the reelmake[local] extra (pip install 'reelmake[local]')"
W, H, FPS = 64, 32, 16


def extra_message(messages: list[str]) -> list[str]:
    return [m for m in messages if "reelmake[local]" not in m]


# ------------------------------------------------------------------ pure settings checks


def test_num_frames_is_the_nearest_4k_plus_1() -> None:
    assert num_frames_for(5, 16) == 81
    assert num_frames_for(3, 16) == 49
    assert num_frames_for(1, 16) == 17
    assert num_frames_for(10, 16) == 161
    assert num_frames_for(79 / 16, 16) == 81  # a tie goes up: trim rather than pad
    assert num_frames_for(0.1, 16) == 5


def test_good_settings_have_no_problems(tmp_path: Path) -> None:
    model = tmp_path / "wan"
    model.mkdir()
    (model / "model_index.json").write_text("{}")
    settings = {
        "model_path": str(model),
        "devices": ["cuda:0", "cuda:1"],
        "dtype": "bfloat16",
        "offload": "model",
        "steps": 30,
        "guidance_scale": 5.0,
        "flow_shift": 3.0,
        "fps": 16,
        "sizes": {"16:9": "832x480", "9:16": "480x832", "1:1": "624x624"},
    }
    assert extra_message(check_settings(settings)) == []
    assert extra_message(check_settings({"model_path": "Wan-AI/Wan2.1-VACE-14B-diffusers"})) == []


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"stepz": 30}, "stepz: unknown setting"),
        ({"dtype": "bf16"}, "dtype: 'bf16' is not a dtype"),
        ({"sizes": {"16:9": "830x480"}}, "sizes.16:9: 830x480: width and height must be positive multiples of 16"),
        ({"sizes": {"16:9": "480x832"}}, "sizes.16:9: 480x832 is not close to 16:9"),
        ({"sizes": {"4:3": "640x480"}}, "sizes.4:3: unknown aspect ratio"),
        ({"sizes": {"1:1": "big"}}, "sizes.1:1: 'big' is not a size"),
        ({"model_path": "./models/wan-vace"}, "model_path: model directory './models/wan-vace' does not exist"),
        ({"model_path": "Wan AI/Wan 2.1"}, "model_path: 'Wan AI/Wan 2.1' is neither a hub id"),
        ({"device": "gpu0"}, "device: 'gpu0' is not a device"),
        ({"devices": ["cuda:0", "cuda:0"]}, "devices: lists a device twice"),
        ({"device": "cuda", "devices": ["cuda:0"]}, "devices: set either device or devices"),
        ({"device": "cpu", "offload": "model"}, "offload: offloading moves weights between CPU and GPU"),
        ({"steps": 0}, "steps: 0 must be a whole number"),
        ({"fps": 16.5}, "fps: 16.5 must be a whole number"),
        ({"flow_shift": -1}, "flow_shift: -1 must be a positive number"),
    ],
)
def test_bad_settings_are_reported_by_key(settings: dict, expected: str) -> None:
    messages = extra_message(check_settings(settings))
    assert len(messages) == 1 and messages[0].startswith(expected), messages


def test_model_path_must_be_a_diffusers_pipeline(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    messages = extra_message(check_settings({"model_path": str(tmp_path / "weights")}))
    assert len(messages) == 1 and "no model_index.json" in messages[0]


def test_relative_model_path_resolves_against_the_storyboard_dir(tmp_path: Path) -> None:
    (tmp_path / "models" / "wan").mkdir(parents=True)
    (tmp_path / "models" / "wan" / "model_index.json").write_text("{}")
    assert extra_message(check_settings({"model_path": "./models/wan"}, base_dir=tmp_path)) == []


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, *args, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


def test_importing_the_backend_does_not_import_torch() -> None:
    proc = _run_python(
        "import sys, reelmake.backends.local_wan.backend as m, reelmake.backends.local_wan.settings as s\n"
        "m.LocalWanBackend({'steps': 3}); s.check_settings({})\n"
        "print(sorted(k for k in ('torch', 'diffusers', 'transformers') if k in sys.modules))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_without_the_extra_validation_and_preflight_name_the_install_command() -> None:
    # -S drops site-packages, so neither torch nor diffusers can be found: a core-only install.
    proc = _run_python(
        "from reelmake.backends.local_wan.backend import LocalWanBackend\n"
        "from reelmake.backends.local_wan.settings import check_settings, extra_installed\n"
        "from reelmake.errors import BackendUnavailable\n"
        "assert not extra_installed()\n"
        "print(check_settings({})[-1])\n"
        "try:\n    LocalWanBackend({}).preflight([])\nexcept BackendUnavailable as e:\n    print(e)\n",
        "-S",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert "missing: torch, diffusers" in line and "pip install 'reelmake[local]'" in line


# ------------------------------------------------------------------------ clip encoding


def decode_frames(path: Path, width: int = W, height: int = H) -> list[bytes]:
    raw = path.with_suffix(".rgb")
    run_ffmpeg(["-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw)])
    data = raw.read_bytes()
    size = width * height * 3
    assert len(data) % size == 0
    return [data[i : i + size] for i in range(0, len(data), size)]


def gradient_frames(count: int):
    np = pytest.importorskip("numpy", reason=NEEDS_EXTRA)
    frames = np.zeros((count, H, W, 3), dtype=np.uint8)
    for i in range(count):
        frames[i, :, :, 0] = i * 5  # each frame its own red level
        frames[i, :, :, 1] = np.arange(W, dtype=np.uint8)[None, :] * 3
    return frames


@pytest.mark.parametrize(("count", "duration"), [(17, 1.0), (10, 1.0), (49, 3.0)])
def test_clip_has_the_exact_duration_size_and_a_silent_stereo_track(
    tmp_path: Path, count: int, duration: float
) -> None:
    dest = tmp_path / "clip.mp4"
    encode_clip(gradient_frames(count), FPS, duration, dest, tmp_path / "scratch")
    info = probe(dest)
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.audio_codec, info.channels, info.sample_rate) == ("aac", 2, 48000)
    assert info.duration == pytest.approx(duration, abs=0.03)
    frames = decode_frames(dest)
    assert len(frames) == round(duration * FPS)
    assert list((tmp_path / "scratch").iterdir()) == []  # no raw frames left behind
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_short_clip_is_padded_with_its_last_frame(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy", reason=NEEDS_EXTRA)
    dest = tmp_path / "clip.mp4"
    source = gradient_frames(10)
    source[:, :, :, 2] = np.arange(10, dtype=np.uint8)[:, None, None] * 25  # frames far apart in blue
    encode_clip(source, FPS, 1.0, dest, tmp_path)
    frames = [np.frombuffer(f, dtype=np.uint8).astype(int) for f in decode_frames(dest)]

    def diff(a: int, b: int) -> float:  # H.264 is lossy: compare mean absolute difference
        return float(np.abs(frames[a] - frames[b]).mean())

    assert diff(9, 10) < 1 and diff(9, 15) < 1
    assert diff(8, 9) > 5


# ------------------------------------------------------------- real pipeline, tiny weights


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def ref_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    image_mod = pytest.importorskip("PIL.Image", reason=NEEDS_EXTRA)
    folder = tmp_path_factory.mktemp("refs")
    red = folder / "maya.png"
    image_mod.new("RGB", (48, 64), (220, 40, 30)).save(red)
    sneaker = folder / "sneaker.png"  # an opaque product on a transparent background
    image = image_mod.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((20, 60, 200, 255), (10, 10, 30, 30))
    image.save(sneaker)
    return [red, sneaker]


@pytest.mark.local
def test_transparent_reference_pixels_become_white(ref_images: list[Path]) -> None:
    pytest.importorskip("torch", reason=NEEDS_EXTRA)
    from reelmake.backends.local_wan.pipeline import load_reference

    image = load_reference(ref_images[1])
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((20, 20)) == (20, 60, 200)


def make_job(
    model: Path,
    *,
    seed: int = 7,
    refs: list[Path] = (),
    duration: float = 1.0,
    steps: int = 3,
    width: int = W,
    height: int = H,
    shot_id: str = "lace-up",
    **extra,
) -> RenderJob:
    """A job as the compiler makes it for the local backend; ``extra`` adds or overrides request fields."""
    files = {}
    for path in refs:
        digest = sha256_file(path)
        files[digest] = InputFile(sha256=digest, path=path.resolve(), kind="image", name=path.stem)
    request = {
        "prompt": "maya laces up a white sneaker on a rooftop at dawn, close-up",
        "negative_prompt": "",
        "reference_images": [file_ref(sha256_file(p)) for p in refs],
        "width": width,
        "height": height,
        "num_frames": num_frames_for(duration, FPS),
        "fps": FPS,
        "duration": duration,
        "steps": steps,
        "guidance_scale": 5.0,
        "flow_shift": 3.0,
        "seed": seed,
        "model": str(model),
        **extra,
    }
    key = hashlib.sha256(repr(sorted(request.items())).encode()).hexdigest()
    return RenderJob(
        id=JobId(shot_id), key=key, backend="local", model="wan2.1-vace-1.3b", endpoint="", request=request,
        files=files, duration=duration, aspect_ratio="16:9", sound=False, mode="base", cost=Decimal(0),
    )  # fmt: skip


async def render(backend: LocalWanBackend, job: RenderJob, dest: Path, statuses: list | None = None) -> Path:
    def on_status(state: str, detail: str) -> None:
        if statuses is not None:
            statuses.append((state, detail))

    await backend.run(job, dest, on_status)
    return dest


def render_one(tmp_path: Path, job: RenderJob, name: str = "clip.mp4", **settings) -> Path:
    async def go() -> Path:
        backend = LocalWanBackend({"device": "cpu", **settings})
        try:
            return await render(backend, job, tmp_path / name)
        finally:
            await backend.aclose()

    return asyncio.run(go())


@pytest.mark.local
def test_a_shot_renders_a_clip_of_the_right_duration_size_and_audio(
    tiny_wan: Path, ref_images: list[Path], tmp_path: Path
) -> None:
    job = make_job(tiny_wan, refs=ref_images, duration=1.5)
    statuses: list = []

    async def go() -> None:
        backend = LocalWanBackend({"device": "cpu"})
        backend.preflight([job])
        await render(backend, job, tmp_path / "clip.mp4", statuses)
        await backend.aclose()

    asyncio.run(go())
    info = probe(tmp_path / "clip.mp4")
    assert (info.width, info.height, info.fps, info.video_codec, info.pix_fmt) == (W, H, FPS, "h264", "yuv420p")
    assert (info.audio_codec, info.channels) == ("aac", 2)
    assert info.duration == pytest.approx(1.5, abs=0.03)
    assert len(decode_frames(tmp_path / "clip.mp4")) == 24
    details = [d for s, d in statuses if s == "running"]
    assert details[-2:] == ["step 3/3", "encoding"]
    assert "step 1/3" in details and "step 2/3" in details


@pytest.mark.local
def test_the_same_seed_gives_identical_frames_and_another_seed_does_not(tiny_wan: Path, tmp_path: Path) -> None:
    first = decode_frames(render_one(tmp_path, make_job(tiny_wan, seed=11), "a.mp4"))
    other = decode_frames(render_one(tmp_path, make_job(tiny_wan, seed=12), "b.mp4"))
    again = decode_frames(render_one(tmp_path, make_job(tiny_wan, seed=11), "c.mp4"))  # nothing carried over
    assert first == again
    assert first != other


@pytest.mark.local
def test_flow_shift_reaches_the_scheduler(tiny_wan: Path, tmp_path: Path) -> None:
    low = decode_frames(render_one(tmp_path, make_job(tiny_wan, flow_shift=3.0), "low.mp4"))
    high = decode_frames(render_one(tmp_path, make_job(tiny_wan, flow_shift=8.0), "high.mp4"))
    assert low != high


@pytest.mark.local
def test_adding_a_reference_image_changes_the_output(
    tiny_wan: Path, ref_images: list[Path], tmp_path: Path
) -> None:
    none = decode_frames(render_one(tmp_path, make_job(tiny_wan), "none.mp4"))
    one = decode_frames(render_one(tmp_path, make_job(tiny_wan, refs=ref_images[:1]), "one.mp4"))
    two = decode_frames(render_one(tmp_path, make_job(tiny_wan, refs=ref_images), "two.mp4"))
    assert none != one and one != two


@pytest.mark.local
def test_the_pipeline_loads_once_for_every_shot_and_a_busy_device_queues(
    tiny_wan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffusers import WanVACEPipeline

    from reelmake.backends.local_wan import pipeline as lp

    lp.unload_pipelines()
    loads: list = []
    real = WanVACEPipeline.from_pretrained.__func__

    def counting(cls, *args, **kwargs):  # a spy: the real loader runs
        loads.append(args[0])
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(WanVACEPipeline, "from_pretrained", classmethod(counting))
    statuses: list = []

    async def go() -> None:
        backend = LocalWanBackend({"device": "cpu"})
        await asyncio.gather(
            render(backend, make_job(tiny_wan, seed=1), tmp_path / "1.mp4", statuses),
            render(backend, make_job(tiny_wan, seed=2), tmp_path / "2.mp4", statuses),
        )
        await backend.aclose()
        second = LocalWanBackend({"device": "cpu"})  # a later run in the same process
        await render(second, make_job(tiny_wan, seed=3), tmp_path / "3.mp4", statuses)
        await second.aclose()

    asyncio.run(go())
    assert loads == [str(tiny_wan.resolve())]
    assert len(lp.loaded_keys()) == 1
    assert [d for s, d in statuses if "loading" in d] == ["loading model on cpu"]
    assert ("queued", "waiting for cpu") in statuses
    assert all((tmp_path / f"{i}.mp4").is_file() for i in (1, 2, 3))


@pytest.mark.local
def test_out_of_memory_fails_the_shot_with_advice_and_the_next_shot_renders(
    tiny_wan: Path, tmp_path: Path
) -> None:
    # 160000x160000 asks the allocator for petabytes: a real out-of-memory, on any machine.
    huge = make_job(tiny_wan, width=160_000, height=160_000, shot_id="too-big")

    async def go() -> BackendError:
        backend = LocalWanBackend({"device": "cpu"})
        with pytest.raises(BackendError) as caught:
            await render(backend, huge, tmp_path / "huge.mp4")
        await render(backend, make_job(tiny_wan), tmp_path / "ok.mp4")
        await backend.aclose()
        return caught.value

    error = asyncio.run(go())
    assert type(error) is BackendError and error.code == "out_of_memory"
    assert "out of memory on cpu" in str(error) and "smaller size" in str(error)
    assert not (tmp_path / "huge.mp4").exists()
    assert probe(tmp_path / "ok.mp4").duration == pytest.approx(1.0, abs=0.03)


@pytest.mark.local
def test_cancelling_a_shot_stops_it_between_denoising_steps(tiny_wan: Path, tmp_path: Path) -> None:
    slow = make_job(tiny_wan, steps=400, shot_id="slow")
    steps_seen: list[int] = []

    async def go() -> None:
        backend = LocalWanBackend({"device": "cpu"})
        started = asyncio.Event()

        def on_status(state: str, detail: str) -> None:
            if detail.startswith("step "):
                steps_seen.append(int(detail.split()[1].split("/")[0]))
                if steps_seen[-1] == 2:
                    started.set()

        task = asyncio.create_task(backend.run(slow, tmp_path / "slow.mp4", on_status))
        await asyncio.wait_for(started.wait(), 120)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # One worker per device: the next shot can only start once the cancelled one has let go.
        await render(backend, make_job(tiny_wan), tmp_path / "next.mp4")
        await backend.aclose()

    asyncio.run(go())
    assert (tmp_path / "next.mp4").is_file()
    assert not (tmp_path / "slow.mp4").exists()
    assert max(steps_seen) < 50, f"the cancelled shot kept denoising to step {max(steps_seen)}"


@pytest.mark.local
def test_an_unreadable_reference_fails_the_shot_naming_the_file(tiny_wan: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(BackendError, match=r"reference image 'broken' .*broken\.png.* is unreadable"):
        render_one(tmp_path, make_job(tiny_wan, refs=[broken]))


# ------------------------------------------------------------------------------ preflight


@pytest.fixture
def extra() -> None:
    if not extra_installed():
        pytest.skip(NEEDS_EXTRA)


@pytest.mark.local
def test_preflight_rejects_a_missing_model_directory(extra: None, tmp_path: Path) -> None:
    backend = LocalWanBackend({"model_path": str(tmp_path / "nope"), "device": "cpu"})
    with pytest.raises(BackendUnavailable, match=r"model_path: model directory '.*nope' does not exist"):
        backend.preflight([make_job(tmp_path)])


@pytest.mark.local
def test_preflight_rejects_an_uncached_hub_model_when_offline(extra: None, tmp_path: Path) -> None:
    backend = LocalWanBackend({"model_path": "reelmake-tests/no-such-model", "device": "cpu"})
    with pytest.raises(BackendUnavailable, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        backend.preflight([make_job(tmp_path)])


@pytest.mark.local
def test_preflight_rejects_a_device_this_machine_lacks(extra: None, tiny_wan: Path) -> None:
    backend = LocalWanBackend({"device": "cuda:63"})
    with pytest.raises(BackendUnavailable, match="cuda:63"):
        backend.preflight([make_job(tiny_wan)])


@pytest.mark.local
def test_preflight_rejects_bad_sizes_and_reference_videos(extra: None, tiny_wan: Path) -> None:
    with pytest.raises(BackendUnavailable, match="sizes.16:9: 830x480"):
        LocalWanBackend({"device": "cpu", "sizes": {"16:9": "830x480"}}).preflight([make_job(tiny_wan)])
    with_video = make_job(tiny_wan, video="sha256:" + "0" * 64, shot_id="leap")
    with pytest.raises(BackendUnavailable, match="shot leap: .*reference videos are not supported"):
        LocalWanBackend({"device": "cpu"}).preflight([with_video])


_WITHOUT_EXTRA = (
    "import sys\n"
    "for name in ('torch', 'diffusers', 'transformers', 'accelerate', 'ftfy'):\n"
    "    sys.modules[name] = None  # as in a venv without the local extra: not importable, not found\n"
    "from reelmake.cli import main\n"
    "main()\n"
)


def test_validate_and_plan_of_a_local_storyboard_need_no_torch_only_a_render_does(project) -> None:
    path = project.write("""
        reelmake: 1
        title: Local without the extra
        defaults: {backend: local, duration: 2}
        characters:
          maya: {images: [refs/a.png], description: a runner}
        shots:
          - {id: run, prompt: "@maya runs"}
        """)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _WITHOUT_EXTRA, *args], capture_output=True, text=True,
                              cwd=project.root, check=False)

    validated = cli("validate", str(path))
    assert validated.returncode == 0, validated.stderr
    assert "pip install 'reelmake[local]'" in validated.stderr + validated.stdout  # a warning, not an error
    planned = cli("plan", "--check", str(path))
    assert planned.returncode == 2 and "Traceback" not in planned.stderr, planned.stderr  # renders pending
    rendered = cli("render", "--no-cut", str(path))
    assert rendered.returncode == 1 and "Traceback" not in rendered.stderr
    assert "pip install 'reelmake[local]'" in rendered.stderr
