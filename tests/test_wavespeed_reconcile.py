"""Finding an ambiguous submit's task in WaveSpeed's history, whose items carry no inputs: by model,
time window and the task ids the workspace already knows, adopted only when nothing else could be it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from reelmake.jobs import Ambiguity, Reconciliation
from tests.fakes.wavespeed import FakeWaveSpeed
from tests.fakes.wavespeed_fixtures import KEY, WINDOW, backend, clips, fake, media, run  # noqa: F401 - fixtures
from tests.fakes.wavespeed_jobs import make_job
from tests.fakes.wavespeed_schema import PRO, STD

URL = "https://cdn.example.com/a.png"


def create(fake: FakeWaveSpeed, prompt: str, duration: int = 3, model: str = STD) -> str:
    """A task created behind the backend's back (a lost answer, the website, another tool)."""
    body = {"prompt": prompt, "images": [URL], "duration": duration}
    while True:  # the account is Bronze: wait out its window as any client must
        response = httpx.post(f"{fake.base_url}/api/v3/{model}", json=body, headers={"Authorization": f"Bearer {KEY}"})
        if response.status_code != 429:
            return response.json()["data"]["id"]
        time.sleep(WINDOW / 4)


def test_the_only_unknown_task_of_the_model_in_the_window_is_adopted(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s1", [URL])
    since = time.time()
    known = create(fake, "somebody else's shot, already journaled")
    lost = create(fake, job.request["prompt"])
    create(fake, "the Pro model's task", model=PRO)  # another model: not a candidate
    found = run(b, lambda: b.reconcile(job, Ambiguity(since, time.time(), frozenset({known}))))
    assert found == Reconciliation(lost, (lost,))


def test_known_tasks_and_tasks_outside_the_window_are_never_adopted(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path, clock_skew=0.5)
    job = make_job("s1", [URL])
    early = create(fake, "before the window")
    time.sleep(1.0)
    since = time.time()
    known = create(fake, "journaled")
    found = run(b, lambda: b.reconcile(job, Ambiguity(since, time.time(), frozenset({known}))))
    assert found == Reconciliation(None, ()) and early in fake.tasks


def test_a_finished_candidate_of_another_length_is_not_adopted(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    job = make_job("s1", [URL], duration=3)
    since = time.time()
    stranger = create(fake, "a five-second shot from the website", duration=5)
    time.sleep(0.3)  # finished: its clip can be checked
    found = run(b, lambda: b.reconcile(job, Ambiguity(since, time.time())))
    assert found == Reconciliation(None, (stranger,))


def test_two_ambiguous_submits_that_look_alike_are_both_held(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    first, second = make_job("a", [URL], prompt="shot a"), make_job("b", [URL], prompt="shot b")
    since = time.time()
    ids = {create(fake, "shot a"), create(fake, "shot b")}
    rivals = ((3.0, "16:9"),)  # the other one: same length and shape, so its clip would look the same

    async def both() -> tuple[Reconciliation, Reconciliation]:
        return (await b.reconcile(first, Ambiguity(since, time.time(), rivals=rivals)),
                await b.reconcile(second, Ambiguity(since, time.time(), rivals=rivals)))

    for found in run(b, both):
        assert found.task_id is None and set(found.candidates) == ids


def test_an_id_less_submit_still_in_flight_makes_a_lone_candidate_unsafe(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    # Another shot's submit is on its way (its intent journaled, no id yet): the one task in the history
    # may be that one's, so it is not adopted.
    b = backend(tmp_path)
    job = make_job("s1", [URL])
    since = time.time()
    theirs = create(fake, "the other shot")
    found = run(b, lambda: b.reconcile(job, Ambiguity(since, time.time(), rivals=((None, None),))))
    assert found == Reconciliation(None, (theirs,))


def test_ambiguous_submits_of_different_lengths_are_told_apart_by_their_clips(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    b = backend(tmp_path)
    short, long = make_job("a", [URL], duration=3, prompt="a"), make_job("b", [URL], duration=4, prompt="b")
    since = time.time()
    ids = {"a": create(fake, "a", duration=3), "b": create(fake, "b", duration=4)}

    async def both() -> tuple[Reconciliation, Reconciliation]:
        # Still running at first: each waits for the candidates to finish, downloads and measures them.
        return (await b.reconcile(short, Ambiguity(since, time.time(), rivals=((4.0, "16:9"),))),
                await b.reconcile(long, Ambiguity(since, time.time(), rivals=((3.0, "16:9"),))))

    found_short, found_long = run(b, both)
    assert (found_short.task_id, found_long.task_id) == (ids["a"], ids["b"])
    assert fake.stats()["submissions"] == 2
