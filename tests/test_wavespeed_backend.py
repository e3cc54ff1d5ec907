"""WaveSpeedBackend against the loopback provider: rendering, uploads, configuration, waiting, fetching."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reelmake.backends.wavespeed.backend import WaveSpeedBackend, poll_delays
from reelmake.errors import BackendError, BackendUnavailable, OutputRejected, TaskFailed, TaskLost, Transient
from reelmake.jobs import Ambiguity
from reelmake.media import probe
from tests.fakes.wavespeed import FakeWaveSpeed
from tests.fakes.wavespeed_fixtures import FAST, KEY, backend, clips, fake, media, render, run  # noqa: F401 - fixtures
from tests.fakes.wavespeed_jobs import make_job
from tests.fakes.wavespeed_schema import PRO

# --- happy paths ------------------------------------------------------------------------------


def test_renders_a_shot_with_local_references(fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s1", [media["woman"], media["beach"]])
    states: list[str] = []
    task_id = run(b, lambda: render(b, job, tmp_path / "s1.mp4", states))
    info = probe(tmp_path / "s1.mp4")
    assert (info.width, info.height) == (320, 180) and abs(info.duration - 3) < 0.1
    assert not info.has_audio
    assert "running" in states
    stats = fake.stats()
    assert (stats["submissions"], stats["uploads"], stats["downloads"]) == (1, 2, 1)
    sent = fake.tasks[task_id]["inputs"]
    assert sent["prompt"] == job.request["prompt"] and len(sent["images"]) == 2
    assert all(url.startswith(fake.base_url + "/media/uploads/") for url in sent["images"])


def test_sound_and_vertical_shot_comes_back_with_audio(fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s2", [media["woman"]], sound=True, aspect="9:16", duration=4)
    run(b, lambda: render(b, job, tmp_path / "s2.mp4"))
    info = probe(tmp_path / "s2.mp4")
    assert (info.width, info.height) == (180, 320) and info.has_audio and abs(info.duration - 4) < 0.2


def test_reference_video_is_uploaded_and_sent_as_video(fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s3", [media["man"]], video=media["walk"], aspect="1:1")
    task_id = run(b, lambda: render(b, job, tmp_path / "s3.mp4"))
    sent = fake.tasks[task_id]["inputs"]
    assert sent["video"].endswith("/walk.mp4") and sent["keep_original_sound"] is True
    assert fake.stats()["uploads"] == 2


def test_https_references_pass_through_without_upload(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    url = "https://cdn.example.com/refs/woman.png"
    job = make_job("s4", [url])
    task_id = run(b, lambda: b.submit(job))
    assert fake.tasks[task_id]["inputs"]["images"] == [url]
    assert fake.stats()["uploads"] == 0


def test_one_upload_per_distinct_file_across_concurrent_shots_and_runs(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path
) -> None:
    jobs = [make_job(f"s{i}", [media["woman"], media["man"], media[f"prop{i}"]]) for i in range(4)]

    async def all_shots(b: WaveSpeedBackend) -> list[str]:
        return await asyncio.gather(*(b.submit(job) for job in jobs))

    b = backend(tmp_path)
    run(b, lambda: all_shots(b))
    assert fake.stats()["uploads"] == 6  # woman, man and four props
    assert fake.stats()["submissions"] == 4
    cache_files = sorted((tmp_path / "cache" / "uploads").glob("*.json"))
    assert len(cache_files) == 6
    entry = json.loads(cache_files[0].read_text())
    assert entry["expires_at"] - entry["uploaded_at"] < 7 * 24 * 3600 - 3600

    again = backend(tmp_path)  # a later run with the same cache: no upload at all
    run(again, lambda: all_shots(again))
    assert fake.stats()["uploads"] == 6 and fake.stats()["submissions"] == 8


def test_expired_upload_cache_entry_uploads_again(fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path) -> None:
    b = backend(tmp_path)
    run(b, lambda: b.submit(make_job("s1", [media["woman"]])))
    (entry_path,) = (tmp_path / "cache" / "uploads").glob("*.json")
    entry = json.loads(entry_path.read_text())
    entry["expires_at"] = time.time() - 1
    entry_path.write_text(json.dumps(entry))
    again = backend(tmp_path)
    run(again, lambda: again.submit(make_job("s1", [media["woman"]])))
    assert fake.stats()["uploads"] == 2


def test_legacy_binary_upload_route_is_used_when_ticket_route_is_missing(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = backend(tmp_path)
    job = make_job("s1", [media["woman"]])
    original = b.api.send

    async def no_ticket_route(method: str, path: str, **kwargs: Any) -> Any:
        if path == "/api/v3/media/uploads":
            path = "/api/v3/media/no-such-route"  # the server answers 404 as an old deployment would
        return await original(method, path, **kwargs)

    monkeypatch.setattr(b.api, "send", no_ticket_route)
    task_id = run(b, lambda: b.submit(job))
    assert fake.stats()["uploads"] == 1
    assert fake.tasks[task_id]["inputs"]["images"][0].endswith("/woman.png")


# --- configuration ----------------------------------------------------------------------------


def test_missing_key_fails_preflight_before_any_upload(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAVESPEED_API_KEY")
    b = backend(tmp_path)
    job = make_job("s1", [media["woman"]])
    with pytest.raises(BackendUnavailable, match="WAVESPEED_API_KEY is not set"):
        b.preflight([job])
    with pytest.raises(BackendUnavailable):
        run(b, lambda: b.submit(job))
    assert fake.stats()["uploads"] == 0 and fake.stats()["submit_requests"] == 0


@pytest.mark.parametrize("url", ["http://api.example.com", "ftp://127.0.0.1", "http://10.0.0.8:8000"])
def test_plain_http_is_refused_unless_loopback(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAVESPEED_API_KEY", KEY)
    monkeypatch.setenv("WAVESPEED_BASE_URL", url)
    with pytest.raises(BackendUnavailable, match="https://"):
        backend(tmp_path).preflight([])


def test_the_endpoint_comes_from_the_environment_never_from_settings(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("WAVESPEED_BASE_URL", raising=False)
    assert backend(tmp_path, base_url="https://attacker.example/").base_url == "https://api.wavespeed.ai"
    monkeypatch.setenv("WAVESPEED_BASE_URL", "https://eu.example.org/")
    assert backend(tmp_path).base_url == "https://eu.example.org"


# --- waiting and fetching ---------------------------------------------------------------------


@pytest.mark.parametrize(("code", "retryable"), [(1200, False), (1401, False), (5000, True), (5003, True)])
def test_failed_task_maps_code_to_message_and_retryable(
    fake: FakeWaveSpeed, tmp_path: Path, code: int, retryable: bool
) -> None:
    fake.set_faults({"fail_tasks": {"code": code}})
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"])

    async def scenario() -> str:
        task_id = await b.submit(job)
        with pytest.raises(BackendError) as info:
            await b.wait(job, task_id, lambda *_: None)
        assert isinstance(info.value, TaskFailed)
        assert info.value.task_id == task_id and info.value.code == code and info.value.retryable is retryable
        return str(info.value)

    message = run(b, scenario)
    assert "s1" in message and "failed" in message
    assert fake.stats()["submissions"] == 1


def test_transient_poll_failures_never_fail_a_running_task(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"])

    async def scenario() -> None:
        task_id = await b.submit(job)
        fake.set_faults({"poll": {"status": 503, "count": 9}})  # longer than one poll's own retries
        await asyncio.sleep(0)
        output = await b.wait(job, task_id, lambda *_: None)
        fake.set_faults({"poll": {"status": "drop", "count": 1}})
        assert output.urls
        again = await b.wait(job, task_id, lambda *_: None)  # resuming a finished task is safe
        assert again.urls == output.urls

    run(b, scenario)
    assert fake.stats()["submissions"] == 1


@pytest.mark.parametrize("mode", ["body", "file"])
def test_truncated_download_is_retryable_and_leaves_nothing(
    fake: FakeWaveSpeed, tmp_path: Path, mode: str
) -> None:
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"], duration=5)
    dest = tmp_path / "out" / "s1.mp4"

    async def scenario() -> None:
        task_id = await b.submit(job)
        output = await b.wait(job, task_id, lambda *_: None)
        fake.set_faults({"truncate_downloads": {"mode": mode}})
        with pytest.raises(BackendError) as info:
            await b.fetch(job, output, dest)
        assert isinstance(info.value, Transient) and info.value.task_id == task_id
        assert not dest.exists() and list(dest.parent.iterdir()) == []
        await b.fetch(job, output, dest)  # a fresh download of the same output works

    run(b, scenario)
    assert abs(probe(dest).duration - 5) < 0.1
    assert fake.stats()["downloads"] == 2 and fake.stats()["submissions"] == 1


def test_clip_of_the_wrong_duration_is_refused(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"], duration=3)
    wrong = job.__class__(**{**job.__dict__, "duration": 5.0})

    async def scenario() -> BackendError:
        output = await b.wait(job, await b.submit(job), lambda *_: None)
        with pytest.raises(BackendError) as info:
            await b.fetch(wrong, output, tmp_path / "s1.mp4")
        return info.value

    error = run(b, scenario)
    assert "not the 5 s ordered" in str(error) and isinstance(error, OutputRejected)


def test_download_over_the_size_cap_is_refused(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path, max_download_mb=0.001)
    job = make_job("s1", ["https://cdn.example.com/a.png"])

    async def scenario() -> None:
        output = await b.wait(job, await b.submit(job), lambda *_: None)
        with pytest.raises(BackendError, match="cap"):
            await b.fetch(job, output, tmp_path / "s1.mp4")

    run(b, scenario)
    assert not (tmp_path / "s1.mp4").exists()


# --- reconcile, price, secrecy ----------------------------------------------------------------


# --- price and secrecy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "0.252"),
        ({"sound": True}, "0.336"),
        ({"video": True}, "0.378"),
        ({"endpoint": PRO, "duration": 5}, "0.56"),
    ],
)
def test_price_check_returns_the_providers_exact_charge(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path, kwargs: dict[str, Any], expected: str
) -> None:
    if kwargs.pop("video", False):
        kwargs["video"] = media["walk"]
    b = backend(tmp_path)
    job = make_job("s1", [media["woman"]], **kwargs)
    price = run(b, lambda: b.price(job))
    assert price == Decimal(expected) == job.cost
    assert fake.stats()["submissions"] == 0


def test_key_never_appears_in_logs_errors_or_files(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    b = backend(tmp_path)
    errors: list[str] = []

    async def scenario() -> None:
        await render(b, make_job("s1", [media["woman"]], sound=True), tmp_path / "s1.mp4")
        for faults in (
            {"submit": {"status": 500}},
            {"submit": {"status": "drop"}},
            {"fail_tasks": {"code": 1200}},
            {"submit": {"status": 429, "count": 2, "retry_after": 0.05}},
        ):
            fake.set_faults(faults)
            try:
                await render(b, make_job("s2", [media["man"]]), tmp_path / "s2.mp4")
            except BackendError as exc:
                errors.append(f"{exc!s} {exc!r}")
        await b.reconcile(make_job("s2", [media["man"]]), Ambiguity(time.time() - 60, time.time()))

    run(b, scenario)
    assert len(errors) == 4  # 500, drop, moderation, and the 429 (which the engine turns into a wait)
    fake.api_key = KEY + "-rotated"  # the server now rejects our key and echoes it back in its message
    rejected = WaveSpeedBackend(dict(FAST), tmp_path / "cache")
    with pytest.raises(BackendError) as info:
        run(rejected, lambda: rejected.submit(make_job("s3", ["https://cdn.example.com/a.png"])))
    errors.append(f"{info.value!s} {info.value!r}")
    assert all(KEY not in text for text in errors)
    assert KEY not in caplog.text and KEY not in repr(b) and KEY not in repr(b.api)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def polls_until(latency: float, initial: float = 2.0, factor: float = 1.5, maximum: float = 10.0) -> int:
    """How many polls the schedule makes before it sees a task that takes ``latency`` seconds."""
    elapsed = 0.0
    for count, delay in enumerate(poll_delays(initial, factor, maximum), start=1):
        elapsed += delay
        if elapsed >= latency:
            return count
    raise AssertionError("unreachable")


def test_default_schedule_costs_eleven_requests_for_a_60_s_task(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    assert polls_until(60) == 9  # + 1 submit + 1 download = 11 requests per shot
    assert polls_until(300) == 33  # a slow 5-minute task
    scale = 1 / 50  # the same schedule and task, 50 times faster
    fake.latency = 60 * scale
    b = backend(tmp_path, poll_initial=2 * scale, poll_max=10 * scale, poll_factor=1.5)
    run(b, lambda: render(b, make_job("s1", ["https://cdn.example.com/a.png"]), tmp_path / "s1.mp4"))
    stats = fake.stats()
    # Request overhead can only make polls later, so the task may be seen one poll sooner.
    assert (stats["submit_requests"], stats["downloads"]) == (1, 1) and stats["polls"] in (8, 9)


def test_unknown_task_id_says_what_to_do(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"])
    with pytest.raises(BackendError, match="does not know this task") as info:
        run(b, lambda: b.wait(job, "0123abcd", lambda *_: None))
    assert info.value.task_id == "0123abcd" and isinstance(info.value, TaskLost)


def test_plain_http_reference_url_is_refused_before_submitting(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    with pytest.raises(BackendError, match="https://"):
        run(b, lambda: b.submit(make_job("s1", ["http://cdn.example.com/a.png"])))
    assert fake.stats()["submit_requests"] == 0


def test_upload_hiccups_are_retried_without_duplicate_uploads(fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path) -> None:
    fake.set_faults({"upload": {"status": 503, "count": 2}})
    b = backend(tmp_path)
    task_id = run(b, lambda: b.submit(make_job("s1", [media["woman"]])))
    assert fake.stats()["uploads"] == 1 and fake.stats()["submissions"] == 1
    assert fake.tasks[task_id]["inputs"]["images"][0].endswith("/woman.png")


def test_price_check_falls_back_to_the_documented_pricing_route(
    fake: FakeWaveSpeed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"], sound=True)
    original = b.api.send

    async def no_price_route(method: str, path: str, **kwargs: Any) -> Any:
        if path == "/api/v3/model/price":
            path = "/api/v3/model/no-such-route"  # a deployment with only /api/v3/model/pricing
        return await original(method, path, **kwargs)

    monkeypatch.setattr(b.api, "send", no_price_route)
    assert run(b, lambda: b.price(job)) == Decimal("0.336") == job.cost
