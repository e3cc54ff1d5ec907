"""Two machines, one bucket (issue 17's "done when"): two project checkouts with their own workspaces share
an S3 bucket served by a real S3-protocol server on loopback (moto), and render against the WaveSpeed
fake. The second checkout plans everything as cached and pays nothing; two concurrent renders pay once
per shot; a clip damaged in the bucket is never cut; claims left by a stopped machine are taken over
only after the provider was asked about their task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reelmake.backends.remote.keys import account_fingerprint
from reelmake.engine.outcomes import RenderOptions
from reelmake.engine.api import render
from reelmake.engine.project import Project
from tests.fakes.s3 import MotoServer, s3, s3_server  # noqa: F401 - fixtures
from tests.fakes.wavespeed import FakeWaveSpeed
from tests.fakes.wavespeed_fixtures import KEY, clips  # noqa: F401 - fixture

FAST = {"poll_initial": 0.05, "poll_max": 0.1, "retry_backoff": 0.02, "rate_limit_backoff": 0.05,
        "submit_timeout": 3.0, "read_timeout": 3.0, "tier": "gold"}
SHOTS = [{"id": f"shot{i}", "prompt": f"A rooftop at dawn, angle {i}"} for i in range(4)]
TIMING = "claim_heartbeat = 0.2\nclaim_ttl = 1.5\nremote_poll = 0.1\n"


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clips: Path) -> Iterator[FakeWaveSpeed]:  # noqa: F811
    with FakeWaveSpeed(latency=0.3, api_key=KEY, state=tmp_path / "fake.json", clips_dir=clips, tier="gold") as fake:
        monkeypatch.setenv("WAVESPEED_API_KEY", KEY)
        monkeypatch.setenv("WAVESPEED_BASE_URL", fake.base_url)
        yield fake


def checkout(root: Path, remote: str, shots: list[dict[str, Any]] = SHOTS) -> Path:
    """A clone of the team's repository: the storyboard and reelmake.toml, and no workspace yet."""
    (root / ".git").mkdir(parents=True)
    (root / "reelmake.toml").write_text(f'remote = "{remote}"\n{TIMING}')
    board = {"reelmake": 1, "title": "Team", "defaults": {"backend": "wavespeed", "duration": 3},
             "shots": shots, "backends": {"wavespeed": FAST}}
    path = root / "spot.yaml"
    path.write_text(yaml.safe_dump(board, sort_keys=False))
    return path


def run(path: Path, events: list[tuple[str, str, str]] | None = None, cut: bool = False, **options: Any):
    on_event = (lambda *event: events.append(event)) if events is not None else None
    return render(path, cache_dir=path.parent / ".reelmake", cut=cut, yes=True, on_event=on_event,
                  options=RenderOptions(**options))


def objects(server: MotoServer, bucket: str, folder: str) -> list[str]:
    try:
        return sorted(p.rsplit("/", 1)[-1] for p in server.filesystem().ls(f"{bucket}/team/{folder}", detail=False))
    except FileNotFoundError:
        return []


def test_the_second_checkout_plans_everything_cached_and_pays_nothing(tmp_path: Path, s3: MotoServer,  # noqa: F811
                                                                      provider: FakeWaveSpeed) -> None:
    bucket = s3.bucket()
    alice = checkout(tmp_path / "alice", f"s3://{bucket}/team")
    first = run(alice)
    assert first.result.failures() == [] and provider.stats()["submissions"] == 4
    stored = objects(s3, bucket, "clips")
    assert len(stored) == 8 and sum(name.endswith(".json") for name in stored) == 4  # each clip and its sidecar
    assert objects(s3, bucket, "claims") == []  # every claim released once its clip was published
    sidecar = json.loads(s3.filesystem().cat(f"{bucket}/team/clips/{stored[0]}"))
    assert {"sha256", "size_bytes", "host", "task_id", "cost", "created_at", "machine"} <= set(sidecar)

    bob = checkout(tmp_path / "bob", f"s3://{bucket}/team")
    plan = Project.open(bob, cache_dir=bob.parent / ".reelmake").plan().to_json()
    assert [(s["status"], s["where"]) for s in plan["shots"]] == [("cached", "remote")] * 4
    assert plan["render_cost"] == "0.000"
    summary = run(bob, cut=True)
    assert summary.result.failures() == [] and summary.result.spent == 0
    assert provider.stats()["submissions"] == 4  # nothing submitted by the second machine
    assert sorted(summary.to_json()["cached"]) == sorted(s["id"] for s in SHOTS)
    assert (bob.parent / "out" / "spot" / "master.mp4").is_file()  # cut from the pulled, verified clips


def _cli_render(path: Path, machine: str, env: dict[str, str]) -> subprocess.Popen:
    # Output to files: a pipe nobody reads yet would stall one machine and so the other waiting for it.
    out, err = (open(path.parent / f"render.{name}", "w") for name in ("out", "err"))
    return subprocess.Popen([sys.executable, "-m", "reelmake.cli", "render", str(path), "--yes", "--no-cut", "--json"],
                            env={**env, "REELMAKE_MACHINE": machine}, stdout=out, stderr=err, cwd=path.parent)


def test_two_machines_rendering_at_once_pay_once_per_shot(tmp_path: Path, s3: MotoServer,  # noqa: F811
                                                          provider: FakeWaveSpeed) -> None:
    bucket = s3.bucket()
    shots = [{"id": f"shot{i}", "prompt": f"A rooftop at dawn, angle {i}"} for i in range(6)]
    paths = [checkout(tmp_path / name, f"s3://{bucket}/team", shots) for name in ("alice", "bob")]
    env = dict(os.environ)
    runs = [_cli_render(path, name, env) for path, name in zip(paths, ("alice", "bob"), strict=True)]
    results = []
    for process, path in zip(runs, paths, strict=True):
        process.wait(timeout=120)
        assert process.returncode == 0, (path.parent / "render.err").read_text()
        results.append(json.loads((path.parent / "render.out").read_text()))
    prompts = [task["inputs"]["prompt"] for task in provider.tasks.values()]
    assert provider.stats()["submissions"] == 6 and len(set(prompts)) == 6  # every shot submitted exactly once
    assert sum(r["spent"] != "0.000" for r in results) >= 1
    for result in results:  # both machines end with every clip, whoever paid for it
        assert sorted(result["rendered"] + result["cached"]) == sorted(s["id"] for s in shots)
    assert objects(s3, bucket, "claims") == []


def test_a_clip_damaged_in_the_bucket_is_never_cut_and_is_fetched_again(tmp_path: Path, s3: MotoServer,  # noqa: F811
                                                                        provider: FakeWaveSpeed) -> None:
    bucket = s3.bucket()
    alice = checkout(tmp_path / "alice", f"s3://{bucket}/team")
    run(alice)
    fs = s3.filesystem()
    victim = next(n for n in objects(s3, bucket, "clips") if n.endswith(".mp4"))
    good = fs.cat(f"{bucket}/team/clips/{victim}")
    fs.pipe(f"{bucket}/team/clips/{victim}", good[:-64] + b"\0" * 64)  # same size, other bytes

    bob = checkout(tmp_path / "bob", f"s3://{bucket}/team")
    events: list[tuple[str, str, str]] = []
    summary = run(bob, events, cut=True)
    assert summary.result.failures() == [] and summary.cuts.ok
    assert any("does not match its checksum" in detail for _, _, detail in events)
    assert provider.stats()["submissions"] == 4  # downloaded again from its task, not paid again
    key = victim.removesuffix(".mp4")
    local = Project.open(bob, cache_dir=bob.parent / ".reelmake").workspace.clips.get(key, verify=True)
    assert local is not None and local.clip.read_bytes() == good
    assert fs.cat(f"{bucket}/team/clips/{victim}") == good  # the bucket was repaired by the new claim holder


def _claim(s3: MotoServer, bucket: str, key: str, *, machine: str, task_id: str | None, same_account: bool,  # noqa: F811
           sent: bool = True) -> None:
    salt = os.urandom(16)
    secret = f"{os.environ['WAVESPEED_BASE_URL'].rstrip('/')}\n{KEY if same_account else 'another-key'}"
    body = {"reelmake_claim": 1, "key": key, "machine": machine, "workspace": "elsewhere", "run": "r1",
            "heartbeat": "2026-01-01T00:00:00Z", "beat": 3, "task_id": task_id, "sent_at": 1.0 if sent else None,
            "account": {"salt": salt.hex(), "digest": account_fingerprint(secret, salt)}}
    s3.filesystem().pipe(f"{bucket}/team/claims/{key}.json", json.dumps(body).encode())


def _first_job(path: Path):
    project = Project.open(path, cache_dir=path.parent / ".reelmake")
    return project, project.jobs[""][0]


def _submit_directly(provider: FakeWaveSpeed, path: Path) -> str:
    """What a machine that then stopped had submitted: a task at the provider, for the first shot."""
    import asyncio

    from reelmake.backends.wavespeed.backend import WaveSpeedBackend

    _, job = _first_job(path)
    backend = WaveSpeedBackend(FAST, path.parent / "elsewhere")

    async def submit() -> str:
        async def on_send() -> None:
            return None
        try:
            return await backend.submit(job, on_status=lambda *a: None, on_send=on_send)
        finally:
            await backend.aclose()

    return asyncio.run(submit())


def test_a_claim_on_the_same_account_is_followed_by_polling_its_task(
        tmp_path: Path, s3: MotoServer, provider: FakeWaveSpeed) -> None:  # noqa: F811
    bucket = s3.bucket()
    bob = checkout(tmp_path / "bob", f"s3://{bucket}/team", SHOTS[:1])
    task = _submit_directly(provider, bob)
    _, job = _first_job(bob)
    _claim(s3, bucket, job.key, machine="crashed-box", task_id=task, same_account=True)
    summary = run(bob)
    assert summary.result.failures() == [] and summary.result.spent == 0
    assert provider.stats()["submissions"] == 1  # the other machine's task, polled; nothing new paid
    assert len(objects(s3, bucket, "clips")) == 2  # published: the same task's bytes as its holder would
    assert objects(s3, bucket, "claims") == [f"{job.key}.json"]  # the holder's claim is the holder's to end


def test_a_stopped_machines_claim_on_another_account_is_held_not_paid_again(
        tmp_path: Path, s3: MotoServer, provider: FakeWaveSpeed) -> None:  # noqa: F811
    bucket = s3.bucket()
    bob = checkout(tmp_path / "bob", f"s3://{bucket}/team", SHOTS[:1])
    _, job = _first_job(bob)
    _claim(s3, bucket, job.key, machine="crashed-box", task_id="task-of-another-account", same_account=False)
    summary = run(bob)
    [failure] = summary.result.failures()
    assert failure["status"] == "ambiguous" and "crashed-box" in failure["error"] and "--resubmit" in failure["error"]
    assert provider.stats()["submissions"] == 0
    again = run(bob, resubmit=frozenset({"shot0"}))  # the person accepts paying again
    assert again.result.failures() == [] and provider.stats()["submissions"] == 1


def test_a_claim_that_never_sent_a_submit_is_taken_over_once_stale(tmp_path: Path, s3: MotoServer,  # noqa: F811
                                                                   provider: FakeWaveSpeed) -> None:
    bucket = s3.bucket()
    bob = checkout(tmp_path / "bob", f"s3://{bucket}/team", SHOTS[:1])
    _, job = _first_job(bob)
    _claim(s3, bucket, job.key, machine="crashed-box", task_id=None, same_account=False, sent=False)
    events: list[tuple[str, str, str]] = []
    summary = run(bob, events)
    assert summary.result.failures() == [] and provider.stats()["submissions"] == 1
    assert ("shot0", "queued", "rendering on crashed-box") in events  # until its heartbeat was seen stopped


def test_a_live_claim_elsewhere_is_waited_for_and_its_clip_pulled(tmp_path: Path, s3: MotoServer,  # noqa: F811
                                                                  provider: FakeWaveSpeed) -> None:
    bucket = s3.bucket()
    alice = checkout(tmp_path / "alice", f"s3://{bucket}/elsewhere", SHOTS[:1])
    run(alice)  # a finished clip to publish later, as the other machine will
    published = s3.filesystem().ls(f"{bucket}/elsewhere/clips", detail=False)
    bob = checkout(tmp_path / "bob", f"s3://{bucket}/team", SHOTS[:1])
    _, job = _first_job(bob)
    fs = s3.filesystem()
    stop = threading.Event()

    def other_machine() -> None:  # heartbeats for a while, then publishes the clip and lets go
        for beat in range(12):
            body = {"machine": "render-box", "workspace": "elsewhere", "run": "r2", "beat": beat, "task_id": None,
                    "sent_at": 1.0, "account": None}
            fs.pipe(f"{bucket}/team/claims/{job.key}.json", json.dumps(body).encode())
            if stop.wait(0.15):
                return
        for path in sorted(published, key=lambda p: p.endswith(".json")):  # clip first, sidecar last
            fs.pipe(f"{bucket}/team/clips/{path.rsplit('/', 1)[-1]}", fs.cat(path))
        fs.rm(f"{bucket}/team/claims/{job.key}.json")

    worker = threading.Thread(target=other_machine)
    worker.start()
    try:
        time.sleep(0.1)
        events: list[tuple[str, str, str]] = []
        summary = run(bob, events)
    finally:
        stop.set()
        worker.join()
    assert summary.result.failures() == [] and summary.result.ids("cached") == ["shot0"]
    assert ("shot0", "queued", "rendering on render-box") in events
    assert provider.stats()["submissions"] == 1  # alice's only
