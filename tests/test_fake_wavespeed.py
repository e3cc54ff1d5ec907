"""The loopback WaveSpeed provider speaks the real protocol: the official SDK works against it unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wavespeed

from reelmake.media import probe
from tests.fakes.wavespeed import FakeWaveSpeed
from tests.fakes.wavespeed_jobs import make_image
from tests.fakes.wavespeed_schema import STD

KEY = "fake-sdk-key-8e2f"
AUTH = {"Authorization": f"Bearer {KEY}"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeWaveSpeed]:
    with FakeWaveSpeed(latency=0.3, api_key=KEY, state=tmp_path / "state.json") as server:
        yield server


def body(**overrides: Any) -> dict[str, Any]:
    return {"prompt": "The woman in Figure 1 waves", "images": ["https://cdn.example.com/w.png"], "duration": 3, **overrides}


def test_official_sdk_uploads_and_runs_unchanged(fake: FakeWaveSpeed, tmp_path: Path) -> None:
    client = wavespeed.Client(api_key=KEY, base_url=fake.base_url, max_connection_retries=0)
    image = make_image(tmp_path / "woman.png")
    url = client.upload(str(image))
    assert url.startswith(fake.base_url) and httpx.get(url).content == image.read_bytes()

    result = client.run(STD, body(images=[url], sound=True, aspect_ratio="9:16"), poll_interval=0.05)
    (output,) = result["outputs"]
    clip = tmp_path / "out.mp4"
    clip.write_bytes(httpx.get(output).content)
    info = probe(clip)
    assert (info.width, info.height) == (180, 320) and info.has_audio and abs(info.duration - 3) < 0.1
    stats = fake.stats()
    assert (stats["submissions"], stats["uploads"], stats["downloads"]) == (1, 1, 1) and stats["polls"] >= 2


def test_sdk_sees_a_failed_task_as_failed(fake: FakeWaveSpeed) -> None:
    fake.set_faults({"fail_tasks": {"code": 1200}})
    client = wavespeed.Client(api_key=KEY, base_url=fake.base_url)
    with pytest.raises(RuntimeError, match="failed .*1200"):
        client.run(STD, body(), poll_interval=0.05)


def test_tasks_move_from_created_to_processing_to_completed(fake: FakeWaveSpeed) -> None:
    fake.latency = 1.0  # "created" for the first quarter, then "processing"
    created = httpx.post(f"{fake.base_url}/api/v3/{STD}", json=body(), headers=AUTH).json()
    assert created["code"] == 200 and created["data"]["status"] == "created" and created["data"]["outputs"] == []
    task_id = created["data"]["id"]
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not seen or seen[-1] != "completed"):
        data = httpx.get(f"{fake.base_url}/api/v3/predictions/{task_id}/result", headers=AUTH).json()["data"]
        seen.append(data["status"])
        time.sleep(0.03)
    assert seen[0] == "created" and "processing" in seen and seen[-1] == "completed"
    assert data["outputs"][0].endswith(f"/media/outputs/{task_id}.mp4")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": KEY}])
def test_api_requires_the_bearer_key(fake: FakeWaveSpeed, headers: dict[str, str]) -> None:
    response = httpx.post(f"{fake.base_url}/api/v3/{STD}", json=body(), headers=headers)
    assert response.status_code == 401 and response.json()["code"] == 401
    assert fake.stats()["submissions"] == 0


@pytest.mark.parametrize(
    ("override", "code", "words"),
    [
        ({"prompt": None}, 1400, "prompt"),
        ({"duration": 16}, 1401, "duration"),
        ({"duration": "5"}, 1401, "duration"),
        ({"aspect_ratio": "4:3"}, 1401, "aspect_ratio"),
        ({"images": [f"https://x.example/{i}.png" for i in range(8)]}, 1401, "at most 7"),
        ({"video": "https://x.example/v.mp4", "images": [f"https://x.example/{i}.png" for i in range(5)]}, 1401, "with a video"),
        ({"multi_prompt": [{"prompt": "a", "duration": 1}, {"prompt": "b", "duration": 1}]}, 1401, "sum"),
        ({"seed": 3}, 1401, "seed"),
    ],
)
def test_submit_validates_the_kling_o3_schema(fake: FakeWaveSpeed, override: dict[str, Any], code: int, words: str) -> None:
    payload = {k: v for k, v in body(**override).items() if v is not None}
    response = httpx.post(f"{fake.base_url}/api/v3/{STD}", json=payload, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error_code"] == code and words in response.json()["message"]
    assert fake.stats()["submissions"] == 0


def test_unknown_model_is_404(fake: FakeWaveSpeed) -> None:
    response = httpx.post(f"{fake.base_url}/api/v3/kwaivgi/kling-video-o9/reference-to-video", json=body(), headers=AUTH)
    assert response.status_code == 404


def test_legacy_binary_upload_route(fake: FakeWaveSpeed) -> None:
    response = httpx.post(
        f"{fake.base_url}/api/v3/media/upload/binary", files={"file": ("ref.png", b"\x89PNG data", "image/png")}, headers=AUTH
    )
    url = response.json()["data"]["download_url"]
    assert httpx.get(url).content == b"\x89PNG data" and fake.stats()["uploads"] == 1


def test_upload_put_refuses_an_authorization_header(fake: FakeWaveSpeed) -> None:
    ticket = httpx.post(f"{fake.base_url}/api/v3/media/uploads", json={"filename": "a.png", "size": 3}, headers=AUTH).json()
    response = httpx.put(ticket["data"]["upload"]["url"], content=b"abc", headers=AUTH)
    assert response.status_code == 400 and fake.stats()["uploads"] == 0


def test_price_balance_and_history(fake: FakeWaveSpeed) -> None:
    price = httpx.post(f"{fake.base_url}/api/v3/model/price", json={"model_id": STD, "inputs": body(duration=10, sound=True)}, headers=AUTH)
    assert price.json()["data"]["price"] == 1.12
    start = time.time()
    task_id = httpx.post(f"{fake.base_url}/api/v3/{STD}", json=body(duration=5), headers=AUTH).json()["data"]["id"]
    balance = httpx.get(f"{fake.base_url}/api/v3/balance", headers=AUTH).json()["data"]["balance"]
    assert balance == pytest.approx(100 - 0.42)
    window = {"created_after": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 1)), "model": STD}
    items = httpx.post(f"{fake.base_url}/api/v3/predictions", json=window, headers=AUTH).json()["data"]["items"]
    assert [i["id"] for i in items] == [task_id] and items[0]["inputs"]["duration"] == 5
    later = {**window, "created_after": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 60))}
    assert httpx.post(f"{fake.base_url}/api/v3/predictions", json=later, headers=AUTH).json()["data"]["items"] == []


def test_tasks_survive_a_restart_through_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with FakeWaveSpeed(latency=0.3, api_key=KEY, state=state) as first:
        task_id = httpx.post(f"{first.base_url}/api/v3/{STD}", json=body(), headers=AUTH).json()["data"]["id"]
    time.sleep(0.35)
    with FakeWaveSpeed(latency=5, api_key=KEY, state=state) as second:
        data = httpx.get(f"{second.base_url}/api/v3/predictions/{task_id}/result", headers=AUTH).json()["data"]
        assert data["status"] == "completed"  # the latency it was created with still applies
        assert httpx.get(data["outputs"][0]).status_code == 200


def test_faults_api_rejects_unknown_kinds(fake: FakeWaveSpeed) -> None:
    response = httpx.post(f"{fake.base_url}/_fake/faults", json={"meteor": {}})
    assert response.status_code == 400 and "meteor" in response.json()["error"]
    assert httpx.post(f"{fake.base_url}/_fake/faults", json={"submit": {"status": 500, "count": 2}}).json()["submit"]["count"] == 2
    assert "submit" not in httpx.delete(f"{fake.base_url}/_fake/faults").json()


def test_share_of_submits_fails(fake: FakeWaveSpeed) -> None:
    fake.set_faults({"submit": {"status": 503, "share": 0.5}, "seed": 7})
    codes = [httpx.post(f"{fake.base_url}/api/v3/{STD}", json=body(), headers=AUTH).status_code for _ in range(20)]
    assert 3 <= codes.count(503) <= 17 and codes.count(200) + codes.count(503) == 20
    assert fake.stats()["submissions"] == 20  # 5xx answers come after the task was created


def test_runs_as_a_process_and_prints_its_url_first(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.wavespeed", "--port", "0", "--latency", "0.1", "--state", str(tmp_path / "s.json")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        httpx.post(f"{base_url}/api/v3/{STD}", json=body(), headers={"Authorization": "Bearer any-key"})
        assert httpx.get(f"{base_url}/_fake/stats").json()["submissions"] == 1
        assert json.loads((tmp_path / "s.json").read_text())["tasks"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
