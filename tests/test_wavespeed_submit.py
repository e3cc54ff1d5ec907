"""WaveSpeedBackend submit safety: a paid task is never created twice, whatever the provider does, and
the account's rate limit is waited for, never tripped over and never a failure."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from reelmake.errors import BackendError, NotSent, RateLimited, SubmitAmbiguous, SubmitRejected
from reelmake.jobs import Ambiguity, Reconciliation
from reelmake.media import probe
from tests.fakes.wavespeed import FakeWaveSpeed
from tests.fakes.wavespeed_fixtures import WINDOW, backend, clips, fake, media, render, run  # noqa: F401 - fixtures
from tests.fakes.wavespeed_jobs import make_job


# --- submit safety ----------------------------------------------------------------------------


@pytest.mark.parametrize(("retry_after", "wait"), [(0.2, 0.2), (None, WINDOW / 2)])
def test_a_429_creates_nothing_and_says_how_long_the_window_needs(
    fake: FakeWaveSpeed, tmp_path: Path, retry_after: float | None, wait: float
) -> None:
    # Formerly retried inside submit: now the 429 goes back to the engine (which records that nothing is
    # in flight and sends again after the wait), and Bronze's window without Retry-After means a share of it.
    fake.set_faults({"submit": {"status": 429, "count": 1, "retry_after": retry_after}})
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"])

    async def scenario() -> tuple[RateLimited, float]:
        with pytest.raises(RateLimited) as info:
            await b.submit(job)
        started = time.monotonic()
        await b.submit(job)
        return info.value, time.monotonic() - started

    refused, waited = run(b, scenario)
    assert refused.retry_after == pytest.approx(wait) and "nothing was submitted" in str(refused)
    assert waited >= wait - 0.02  # the scheduler held the next submit for the window
    assert (fake.stats()["submit_requests"], fake.stats()["submissions"]) == (2, 1)


def test_a_429_holds_every_submit_for_the_window(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    fake.set_faults({"submit": {"status": 429, "count": 1, "retry_after": 0.6}})
    b = backend(tmp_path)

    async def two_shots() -> float:
        first = asyncio.create_task(b.submit(make_job("a", ["https://cdn.example.com/a.png"])))
        await asyncio.sleep(0.2)  # the 429 has been answered: the window is full for everyone
        started = time.monotonic()
        await b.submit(make_job("b", ["https://cdn.example.com/b.png"]))
        with pytest.raises(RateLimited):
            await first
        return time.monotonic() - started

    assert run(b, two_shots) >= 0.3  # shot b waited for a's Retry-After although it never got a 429
    assert fake.stats()["submissions"] == 1


def test_pacing_never_sends_a_submit_the_tier_refuses(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    jobs = [make_job(f"s{i}", ["https://cdn.example.com/a.png"], prompt=f"shot {i}") for i in range(6)]
    states: list[str] = []

    async def burst() -> float:
        started = time.monotonic()
        await asyncio.gather(*(b.submit(j, on_status=lambda state, detail: states.append(detail)) for j in jobs))
        return time.monotonic() - started

    elapsed = run(b, burst)
    stats = fake.stats()
    assert (stats["submissions"], stats["rate_limited"]) == (6, 0)  # Bronze: 2 per window, never a 429
    assert elapsed >= 2 * WINDOW  # three windows' worth of starts
    assert any(d.startswith("waiting for rate limit, next slot in") for d in states)


def test_polls_are_never_held_up_by_submit_pacing(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path, rate_limit={"submits": 2, "per": 3.0})  # stricter than the account: a long wait
    first, second, third = (make_job(n, ["https://cdn.example.com/a.png"], prompt=n) for n in ("a", "b", "c"))

    async def scenario() -> tuple[float, bool]:
        task_id = await b.submit(first)
        await b.submit(second)
        waiting = asyncio.create_task(b.submit(third))  # the window is full for 3 s
        started = time.monotonic()
        await b.wait(first, task_id, lambda *_: None)
        polled_in = time.monotonic() - started
        still_waiting = not waiting.done()
        await waiting
        return polled_in, still_waiting

    polled_in, still_waiting = run(b, scenario)
    assert still_waiting and polled_in < 1.5


@pytest.mark.parametrize("status", [500, 503, "drop"])
def test_failure_after_task_creation_is_ambiguous_and_found_in_the_history(
    fake: FakeWaveSpeed, media: dict[str, Path], tmp_path: Path, status: Any
) -> None:
    b = backend(tmp_path)
    job = make_job("s1", [media["woman"], media["beach"]])
    other = make_job("s2", [media["woman"]])  # a neighbour in the same window, whose id the journal knows

    async def scenario() -> tuple[BackendError, Reconciliation, float]:
        known = await b.submit(other)
        fake.set_faults({"submit": {"status": status, "count": 1}})
        since = time.time()
        try:
            await b.submit(job)
        except BackendError as exc:
            error = exc
        else:
            raise AssertionError("submit should have failed")
        found = await b.reconcile(job, Ambiguity(since, time.time(), frozenset({known})))
        assert found.task_id is not None
        output = await b.wait(job, found.task_id, lambda *_: None)
        await b.fetch(job, output, tmp_path / "s1.mp4")
        return error, found, since

    error, found, _ = run(b, scenario)
    assert isinstance(error, SubmitAmbiguous) and "history" in str(error)
    assert fake.tasks[found.task_id]["inputs"]["prompt"] == job.request["prompt"]
    assert fake.stats()["submissions"] == 2  # s2, and s1 exactly once
    assert probe(tmp_path / "s1.mp4").has_video


def test_5xx_before_task_creation_is_still_ambiguous_and_reconcile_finds_nothing(
    fake: FakeWaveSpeed, tmp_path: Path
) -> None:
    fake.set_faults({"submit": {"status": 502, "count": 1, "create": False}})
    b = backend(tmp_path)
    job = make_job("s1", ["https://cdn.example.com/a.png"])
    since = time.time()

    async def scenario() -> Reconciliation:
        with pytest.raises(BackendError) as info:
            await b.submit(job)
        assert isinstance(info.value, SubmitAmbiguous)
        return await b.reconcile(job, Ambiguity(since, time.time()))

    assert run(b, scenario) == Reconciliation(None, ())
    assert fake.stats()["submissions"] == 0


def test_read_timeout_on_submit_is_ambiguous_and_not_resent(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    fake.set_faults({"slow": {"route": "submit", "seconds": 1.0}})
    b = backend(tmp_path, submit_timeout=0.3)
    job = make_job("s1", ["https://cdn.example.com/a.png"])
    since = time.time()

    async def scenario() -> Reconciliation:
        with pytest.raises(BackendError) as info:
            await b.submit(job)
        assert isinstance(info.value, SubmitAmbiguous) and "ReadTimeout" in str(info.value)
        return await b.reconcile(job, Ambiguity(since, time.time()))

    found = run(b, scenario)
    assert found.task_id in fake.tasks
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
