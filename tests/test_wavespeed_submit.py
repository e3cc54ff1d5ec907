"""WaveSpeedBackend submit safety: a paid task is never created twice, whatever the provider does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from reelmake.errors import BackendError, NotSent, RateLimited, SubmitAmbiguous, SubmitRejected
from reelmake.media import probe
from tests.fakes.wavespeed import FakeWaveSpeed
from tests.fakes.wavespeed_fixtures import backend, clips, fake, media, render, run  # noqa: F401 - fixtures
from tests.fakes.wavespeed_jobs import make_job


# --- submit safety ----------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [0.2, None])
def test_429_is_retried_and_creates_exactly_one_task(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path, retry_after: float | None
) -> None:
    fake.set_faults({"submit": {"status": 429, "count": 2, "retry_after": retry_after}})
    b = backend(tmp_path)
    started = time.monotonic()
    run(b, lambda: render(b, make_job("s1", [media["woman"]]), tmp_path / "s1.mp4"))
    stats = fake.stats()
    assert (stats["submit_requests"], stats["submissions"]) == (3, 1)
    if retry_after:
        assert time.monotonic() - started >= 2 * retry_after


def test_429_pauses_the_whole_backend(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    fake.set_faults({"submit": {"status": 429, "count": 1, "retry_after": 0.6}})
    b = backend(tmp_path)

    async def two_shots() -> float:
        first = asyncio.create_task(b.submit(make_job("a", ["https://cdn.example.com/a.png"])))
        await asyncio.sleep(0.2)  # the 429 has been answered; the limiter is closed
        started = time.monotonic()
        await b.submit(make_job("b", ["https://cdn.example.com/b.png"]))
        await first
        return time.monotonic() - started

    assert run(b, two_shots) >= 0.3  # shot b waited for a's Retry-After although it never got a 429
    assert fake.stats()["submissions"] == 2


def test_429_that_never_ends_is_retryable_and_submits_nothing(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    fake.set_faults({"submit": {"status": 429, "count": 10}})
    b = backend(tmp_path, submit_attempts=3)
    with pytest.raises(BackendError) as info:
        run(b, lambda: b.submit(make_job("s1", ["https://cdn.example.com/a.png"])))
    assert isinstance(info.value, RateLimited) and "429" in str(info.value)
    assert fake.stats()["submissions"] == 0


@pytest.mark.parametrize("status", [500, 503, "drop"])
def test_failure_after_task_creation_is_ambiguous_and_reconciled(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path, status: Any
) -> None:
    b = backend(tmp_path)
    job = make_job("s1", [media["woman"], media["beach"]])
    other = make_job("s2", [media["woman"]])  # a neighbour in the same window must not be mistaken for it
    submitted_after = time.time()

    async def scenario() -> tuple[BackendError, str | None, str]:
        await b.submit(other)
        fake.set_faults({"submit": {"status": status, "count": 1}})
        try:
            await b.submit(job)
        except BackendError as exc:
            error = exc
        else:
            raise AssertionError("submit should have failed")
        found = await b.reconcile(job, submitted_after)
        assert found is not None
        output = await b.wait(job, found, lambda *_: None)
        await b.fetch(job, output, tmp_path / "s1.mp4")
        return error, found, fake.tasks[found]["inputs"]["prompt"]

    error, found, prompt = run(b, scenario)
    assert isinstance(error, SubmitAmbiguous)
    assert "history" in str(error) and "--resubmit" in str(error)
    assert prompt == job.request["prompt"]
    assert fake.stats()["submissions"] == 2  # s2, and s1 exactly once
    assert probe(tmp_path / "s1.mp4").has_video


def test_5xx_before_task_creation_is_still_ambiguous_and_reconcile_finds_nothing(
    fake: FakeWaveSpeed, tmp_path: Path
) -> None:
    fake.set_faults({"submit": {"status": 502, "count": 1, "create": False}})
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"])
    submitted_after = time.time()

    async def scenario() -> str | None:
        with pytest.raises(BackendError) as info:
            await b.submit(job)
        assert isinstance(info.value, SubmitAmbiguous)
        return await b.reconcile(job, submitted_after)

    assert run(b, scenario) is None
    assert fake.stats()["submissions"] == 0


def test_read_timeout_on_submit_is_ambiguous_and_not_resent(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    fake.set_faults({"slow": {"route": "submit", "seconds": 1.0}})
    b = backend(tmp_path, submit_timeout=0.3)
    job = make_job("s1", ["https://cdn.example.com/a.png"])
    submitted_after = time.time()

    async def scenario() -> str | None:
        with pytest.raises(BackendError) as info:
            await b.submit(job)
        assert isinstance(info.value, SubmitAmbiguous) and "ReadTimeout" in str(info.value)
        return await b.reconcile(job, submitted_after)

    found = run(b, scenario)
    assert found in fake.tasks
    assert fake.stats()["submit_requests"] == 1


def test_connect_error_is_retryable_not_ambiguous(
    fake: FakeWaveSpeed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAVESPEED_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    b = backend(tmp_path, submit_attempts=2)
    with pytest.raises(BackendError) as info:
        run(b, lambda: b.submit(make_job("s1", ["https://cdn.example.com/a.png"])))
    assert isinstance(info.value, NotSent)
    assert "Nothing was submitted" in str(info.value)


@pytest.mark.parametrize("http200", [False, True])
def test_invalid_input_is_rejected_not_retryable(fake: FakeWaveSpeed, tmp_path: Path, http200: bool) -> None:
    fake.set_faults({"http200_errors": http200})
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"], duration=2)
    with pytest.raises(BackendError) as info:
        run(b, lambda: b.submit(job))
    error = info.value
    assert isinstance(error, SubmitRejected) and error.code == 1401
    assert "duration" in str(error) and "nothing was charged" in str(error)
    assert fake.stats()["submissions"] == 0


def test_rejected_key_is_reported_without_the_key(fake: FakeWaveSpeed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "ws-wrong-key-0d9c8b7a"
    monkeypatch.setenv("WAVESPEED_API_KEY", wrong)
    b = backend(tmp_path)
    with pytest.raises(BackendError) as info:
        run(b, lambda: b.submit(make_job("s1", ["https://cdn.example.com/a.png"])))
    assert isinstance(info.value, SubmitRejected)
    assert "WAVESPEED_API_KEY" in str(info.value) and wrong not in str(info.value)


def test_reconcile_ignores_tasks_of_other_shots_and_older_tasks(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"])

    async def scenario() -> tuple[str | None, str | None]:
        await b.submit(make_job("s2", ["https://cdn.example.com/a.png"]))
        await b.submit(make_job("s1", ["https://cdn.example.com/a.png"], duration=4))
        none = await b.reconcile(job, time.time())
        own = await b.submit(job)
        return none, own

    none, own = run(b, scenario)
    assert none is None
    found = run(b, lambda: b.reconcile(job, time.time() - 5))
    assert found == own


def test_reconcile_tells_apart_shots_that_differ_only_in_references(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path
) -> None:
    b = backend(tmp_path)
    prompt = "The product in Figure 1 on a concrete ledge"
    first, second = make_job("a", [media["prop0"]], prompt=prompt), make_job("b", [media["prop1"]], prompt=prompt)

    async def scenario() -> tuple[str, str, str | None, str | None]:
        since = time.time() - 1
        a, b_ = await b.submit(first), await b.submit(second)
        return a, b_, await b.reconcile(first, since), await b.reconcile(second, since)

    a, b_, found_a, found_b = run(b, scenario)
    assert (found_a, found_b) == (a, b_)
