"""Submit pacing (backends/remote/pacing.py): never more starts in a window than the limit, first come
first served, a 429 as a wait for the window, and the window remembered across runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from reelmake.backends.remote.pacing import SubmitScheduler

PER = 0.3


async def submit_all(scheduler: SubmitScheduler, n: int, log: list[tuple[str, float]], work: float = 0.01) -> None:
    async def one(name: str) -> None:
        token = await scheduler.acquire()
        await asyncio.sleep(work)  # the request
        log.append((name, time.time()))
        scheduler.answered(token)

    await asyncio.gather(*(one(f"s{i}") for i in range(n)))


def test_no_window_ever_holds_more_starts_than_the_limit() -> None:
    scheduler = SubmitScheduler(2, PER)
    log: list[tuple[str, float]] = []
    asyncio.run(submit_all(scheduler, 7, log))
    answered = sorted(t for _, t in log)
    # Each answer is at least PER after the answer two before it: a sliding window never sees three.
    assert all(later - earlier >= PER - 0.005 for earlier, later in zip(answered, answered[2:]))
    assert answered[-1] - answered[0] < 3 * PER + 0.3  # and no slower than the limit requires


def test_waiters_are_served_in_arrival_order_and_told_their_turn() -> None:
    scheduler = SubmitScheduler(1, PER)
    order: list[str] = []
    told: dict[str, list[float]] = {}

    async def one(name: str) -> None:
        token = await scheduler.acquire(lambda wait: told.setdefault(name, []).append(wait))
        order.append(name)
        scheduler.answered(token)

    async def main() -> None:
        tasks = []
        for name in "abcd":
            tasks.append(asyncio.create_task(one(name)))
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert order == list("abcd")
    assert "a" not in told  # a free slot: no waiting, nothing to say
    assert told["d"][0] > told["b"][0]  # the later in line, the longer the announced wait


def test_a_submit_that_created_nothing_gives_its_slot_back_at_once() -> None:
    scheduler = SubmitScheduler(1, 5.0)

    async def main() -> float:
        scheduler.unused(await scheduler.acquire())
        started = time.monotonic()
        scheduler.answered(await scheduler.acquire())
        return time.monotonic() - started

    assert asyncio.run(main()) < 0.1


@pytest.mark.parametrize(("retry_after", "expected"), [(0.4, 0.4), (None, PER / 2)])
def test_a_429_makes_everyone_wait_for_the_window_then_carries_on(retry_after: float | None, expected: float) -> None:
    scheduler = SubmitScheduler(2, PER)

    async def main() -> float:
        token = await scheduler.acquire()
        scheduler.refused(token, retry_after)
        started = time.monotonic()
        scheduler.answered(await scheduler.acquire())
        return time.monotonic() - started

    assert asyncio.run(main()) >= expected - 0.01


def test_the_window_is_remembered_by_the_next_run_on_the_same_account(tmp_path: Path) -> None:
    state = tmp_path / "submits.json"
    first = SubmitScheduler(1, 0.5, state_file=state)

    async def one(scheduler: SubmitScheduler) -> float:
        started = time.monotonic()
        scheduler.answered(await scheduler.acquire())
        return time.monotonic() - started

    assert asyncio.run(one(first)) < 0.1
    assert asyncio.run(one(SubmitScheduler(1, 0.5, state_file=state))) >= 0.4  # a new process reads the file
    shared = SubmitScheduler(1, 0.5, account="acct-1")
    asyncio.run(one(shared))
    assert asyncio.run(one(SubmitScheduler(1, 0.5, account="acct-1"))) >= 0.4  # same process, same account
    assert asyncio.run(one(SubmitScheduler(1, 0.5, account="acct-2"))) < 0.1  # another account is its own


def test_429s_without_retry_after_wait_longer_each_round_and_reset_on_a_start() -> None:
    now = [1000.0]
    scheduler = SubmitScheduler(2, 8.0, clock=lambda: now[0])
    assert scheduler.refused(0, None) == 4.0  # a token's share of the window
    assert scheduler.refused(1, None) == 4.0  # refused in the same round: the same wait, not a longer one
    now[0] += 4.0
    assert scheduler.refused(0, None) == 8.0  # the next round doubles, up to the whole window
    now[0] += 8.0
    assert scheduler.refused(0, None) == 8.0
    now[0] += 8.0
    scheduler.answered(1)  # a start got through
    assert scheduler.refused(0, None) == 4.0
