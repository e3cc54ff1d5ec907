"""``reelmake render`` end to end against the loopback WaveSpeed provider, both run as real processes.

Every test counts submissions at the provider: a shot is paid for exactly once, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reelmake.media import probe, run_ffmpeg
from tests.fakes.wavespeed_jobs import make_image

ROOT = Path(__file__).resolve().parents[1]
KEY = "ws-e2e-key-c4d2b1a09f8e"
SHOTS = 4

STORYBOARD = {
    "reelmake": 1,
    "title": "WaveSpeed end to end",
    "style": "35mm film",
    "defaults": {"backend": "wavespeed", "model": "kling-video-o3-std", "aspect_ratio": "16:9", "duration": 3},
    "characters": {"maya": {"description": "young woman", "images": ["refs/maya-front.png", "refs/maya-side.png"]}},
    "assets": {
        "sneaker": {"image": "refs/sneaker.png", "description": "white high-top"},
        "run": {"video": "refs/run.mp4", "description": "a runner, for motion"},
    },
    "shots": [
        {"id": "intro", "prompt": "@maya on a rooftop at dawn"},
        {"id": "lace", "prompt": "@maya laces up @sneaker", "sound": True, "duration": 4},
        {"id": "sprint", "prompt": "@maya sprints along the ledge", "video": "run", "refs": ["sneaker"]},
        {
            "id": "leap",
            "prompt": "@maya leaps the gap",
            "duration": 4,
            "multi_prompt": [{"prompt": "@maya runs", "duration": 2}, {"prompt": "@maya leaps", "duration": 2}],
        },
    ],
    "deliverables": [{"name": "master", "size": "320x180", "fps": 24}],
    # Bronze, with its minute compressed to WINDOW seconds on both sides (the fake runs --window WINDOW).
    "backends": {"wavespeed": {"tier": "bronze", "rate_limit": {"submits": 2, "per": 1.0}}},
}
WINDOW = 1.0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git-less project folder with the storyboard and real, tiny reference media."""
    root = tmp_path / "project"
    refs = root / "refs"
    refs.mkdir(parents=True)
    make_image(refs / "maya-front.png", "orange")
    make_image(refs / "maya-side.png", "red")
    make_image(refs / "sneaker.png", "white")
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc=s=1280x720:r=12:d=3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(refs / "run.mp4")],
        what="reference video",
    )
    (root / "spot.yaml").write_text(yaml.safe_dump(STORYBOARD, sort_keys=False))
    return root


class FakeProcess:
    """``python -m tests.fakes.wavespeed`` as a subprocess."""

    def __init__(self, state: Path, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.wavespeed", "--port", "0", "--latency", str(latency), "--state", str(state),
             "--api-key", KEY, "--tier", "bronze", "--window", str(WINDOW)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        assert self.base_url.startswith("http://127.0.0.1:")

    def stats(self) -> dict[str, int]:
        return httpx.get(f"{self.base_url}/_fake/stats").json()

    def faults(self, spec: dict[str, Any]) -> None:
        httpx.post(f"{self.base_url}/_fake/faults", json=spec).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeProcess]:
    server = FakeProcess(tmp_path / "fake" / "state.json", latency=0.5)
    yield server
    server.stop()


def reelmake(project: Path, fake: FakeProcess, *args: str, wait: bool = True, **kwargs: Any) -> Any:
    env = {**os.environ, "WAVESPEED_API_KEY": KEY, "WAVESPEED_BASE_URL": fake.base_url, "REELMAKE_CACHE_DIR": str(project / ".reelmake")}
    cmd = [sys.executable, "-m", "reelmake.cli", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300, **kwargs)


def lock_task_ids(project: Path) -> dict[str, str]:
    lock = yaml.safe_load((project / "spot.lock").read_text())
    return {shot: entry["task_id"] for shot, entry in lock["renders"]["wavespeed"].items()}


@pytest.mark.slow
def test_render_end_to_end_pays_once_per_shot_and_leaks_no_key(project: Path, fake: FakeProcess, tmp_path: Path) -> None:
    done = reelmake(project, fake, "-vv", "render", "spot.yaml", "--yes", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert sorted(summary["rendered"]) == ["intro", "lace", "leap", "sprint"] and summary["failed"] == []
    assert summary["spent"] == "1.414"  # 3×0.084 + 4×0.112 + 3×0.126 + 4×0.084
    balance = httpx.get(f"{fake.base_url}/api/v3/balance", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert balance["data"]["balance"] == pytest.approx(100 - 1.414)  # what the provider charged agrees
    master = project / summary["outputs"]["master"]
    assert abs(probe(master).duration - 14) < 0.5
    stats = fake.stats()
    assert (stats["submissions"], stats["uploads"], stats["downloads"]) == (SHOTS, 4, SHOTS)
    tasks = {t["id"]: t for t in httpx.get(f"{fake.base_url}/_fake/tasks").json()}
    assert set(lock_task_ids(project).values()) == set(tasks)
    sent = [t["inputs"] for t in tasks.values()]
    # SPEC §3: a character's images in order at its first mention, then assets; @name becomes Figure N.
    lace = next(b for b in sent if "laces" in b["prompt"])
    assert [u.rsplit("/", 1)[1] for u in lace["images"]] == ["maya-front.png", "maya-side.png", "sneaker.png"]
    assert lace["prompt"].startswith("Figures 1 and 2 laces up Figure 3") and lace["sound"] is True
    sprint = next(b for b in sent if "sprints" in b["prompt"])
    assert sprint["video"].endswith("/run.mp4") and len(sprint["images"]) == 3
    leap = next(b for b in sent if "leaps" in b["prompt"])
    assert [seg["duration"] for seg in leap["multi_prompt"]] == [2, 2] and leap["duration"] == 4
    assert "Figures 1 and 2" in leap["multi_prompt"][0]["prompt"]

    rerun = reelmake(project, fake, "render", "spot.yaml", "--yes", "--json")
    assert rerun.returncode == 0 and sorted(json.loads(rerun.stdout)["cached"]) == ["intro", "lace", "leap", "sprint"]
    assert fake.stats()["submissions"] == SHOTS and fake.stats()["uploads"] == 4

    assert KEY not in done.stdout + done.stderr + rerun.stdout + rerun.stderr
    for path in project.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["while-waiting", "inside-submit"])
def test_sigkill_mid_run_then_rerun_completes_without_paying_twice(project: Path, tmp_path: Path, moment: str) -> None:
    fake = FakeProcess(tmp_path / "fake" / "state.json", latency=4.0)
    try:
        if moment == "inside-submit":
            # The provider has created the task but not answered yet: the journal holds only the intent,
            # so the rerun must find the task in the provider's history rather than submit it again.
            fake.faults({"slow": {"route": "submit", "seconds": 30}})
        first = reelmake(project, fake, "render", "spot.yaml", "--yes", "--no-cut", "--jobs", "2", wait=False)
        # Both submits of the first two shots (--jobs 2) must have reached the provider: a submit killed
        # before its request arrived leaves no task to find, and is rightly reported as ambiguous.
        wanted = 2
        deadline = time.monotonic() + 60
        while fake.stats()["submissions"] < wanted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.stats()["submissions"] >= wanted
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert fake.stats()["submissions"] < SHOTS  # it really died mid-run

        rerun = reelmake(project, fake, "render", "spot.yaml", "--yes", "--no-cut", "--json")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert sorted(json.loads(rerun.stdout)["rendered"]) == ["intro", "lace", "leap", "sprint"]
        assert fake.stats()["submissions"] == SHOTS  # what was in flight was resumed, not resubmitted
        assert len(set(lock_task_ids(project).values())) == SHOTS
    finally:
        fake.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        {"submit": {"status": 500, "count": 2}},  # tasks created, answers lost: reconciled from history
        {"submit": {"status": "drop", "count": 1}},
        {"submit": {"status": 429, "count": 3, "retry_after": 0.2}},
        {"poll": {"status": 503, "count": 4}},
        {"truncate_downloads": {"mode": "body", "count": 2}},
    ],
    ids=["500-after-create", "dropped-connection", "429", "poll-503", "truncated-download"],
)
def test_faults_end_to_end_complete_without_duplicate_submissions(project: Path, fake: FakeProcess, faults: dict[str, Any]) -> None:
    fake.faults(faults)
    done = reelmake(project, fake, "render", "spot.yaml", "--yes", "--no-cut", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(json.loads(done.stdout)["rendered"]) == ["intro", "lace", "leap", "sprint"]
    assert fake.stats()["submissions"] == SHOTS


@pytest.mark.slow
def test_failed_task_is_reported_and_others_complete(project: Path, fake: FakeProcess) -> None:
    fake.faults({"fail_tasks": {"code": 1200, "count": 1}})
    done = reelmake(project, fake, "render", "spot.yaml", "--yes", "--no-cut", "--json", "--jobs", "1")
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert len(summary["failed"]) == 1 and len(summary["rendered"]) == SHOTS - 1
    assert "moderation" in summary["failed"][0]["error"]
    assert fake.stats()["submissions"] == SHOTS  # moderation failures are not resubmitted


@pytest.mark.slow
def test_unresolvable_ambiguous_submit_is_reported_until_resubmit(project: Path, fake: FakeProcess) -> None:
    # The gateway fails without creating the task: reelmake cannot know that, so it must not pay again.
    fake.faults({"submit": {"status": 502, "create": False, "count": 1}})
    first = reelmake(project, fake, "render", "spot.yaml", "--yes", "--no-cut", "--json", "--jobs", "1")
    assert first.returncode == 1
    (failed,) = json.loads(first.stdout)["failed"]
    assert "--resubmit" in failed["error"]
    assert fake.stats()["submissions"] == SHOTS - 1

    again = reelmake(project, fake, "render", "spot.yaml", "--yes", "--no-cut", "--json")
    assert again.returncode == 1 and fake.stats()["submissions"] == SHOTS - 1  # still not resubmitted

    forced = reelmake(project, fake, "render", "spot.yaml", "--yes", "--no-cut", "--json", "--resubmit", failed["id"])
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert json.loads(forced.stdout)["rendered"] == [failed["id"]]
    assert fake.stats()["submissions"] == SHOTS
