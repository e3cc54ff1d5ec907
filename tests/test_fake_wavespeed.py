"""The loopback WaveSpeed provider speaks the documented protocol, and no kinder: the official SDK works
against it unchanged, history items carry no inputs, and the account tier's limits are enforced."""

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
from tests.fakes.wavespeed_account import Tier
from tests.fakes.wavespeed_jobs import make_image
from tests.fakes.wavespeed_schema import PRO, STD

KEY = "fake-sdk-key-8e2f"
AUTH = {"Authorization": f"Bearer {KEY}"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeWaveSpeed]:
    # Gold: these tests are about the protocol, not the tier (tier tests build their own fake).
    with FakeWaveSpeed(latency=0.3, api_key=KEY, state=tmp_path / "state.json", tier="gold") as server:
        yield server


def submit(fake: FakeWaveSpeed, payload: dict[str, Any], model: str = STD) -> httpx.Response:
    return httpx.post(f"{fake.base_url}/api/v3/{model}", json=payload, headers=AUTH)


def history(fake: FakeWaveSpeed, **query: Any) -> httpx.Response:
    return httpx.post(f"{fake.base_url}/api/v3/predictions", json={"page": 1, "page_size": 100, **query}, headers=AUTH)


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
    with pytest.raises(RuntimeError, match="Prediction failed .*moderation"):
        client.run(STD, body(), poll_interval=0.05)
    (task,) = fake.tasks.values()
    data = httpx.get(f"{fake.base_url}/api/v3/predictions/{task['id']}/result", headers=AUTH).json()["data"]
    assert (data["status"], data["code"], data["outputs"]) == ("failed", 1200, [])  # /docs/error-codes


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
        ({"multi_prompt": [{"prompt": "x" * 513, "duration": 3}]}, 1401, "512"),
    ],
)
def test_submit_validates_the_kling_o3_schema(fake: FakeWaveSpeed, override: dict[str, Any], code: int, words: str) -> None:
    payload = {k: v for k, v in body(**override).items() if v is not None}
    response = httpx.post(f"{fake.base_url}/api/v3/{STD}", json=payload, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error_code"] == code and words in response.json()["message"]
    assert fake.stats()["submissions"] == 0


def test_a_prompt_alone_is_a_valid_request(fake: FakeWaveSpeed) -> None:
    # The model page: prompt is the only required parameter; images and video are optional.
    response = submit(fake, {"prompt": "A rooftop at dawn, wide establishing shot", "duration": 3})
    assert response.status_code == 200 and response.json()["data"]["status"] == "created"
    assert fake.stats()["submissions"] == 1


def test_unknown_fields_are_ignored_and_billed_not_refused(fake: FakeWaveSpeed) -> None:
    # Silent in the docs, so the costly direction: the task runs (and is paid for) without the field.
    response = submit(fake, body(seed=3, negative_prompt="blur"))
    assert response.status_code == 200
    assert fake.stats()["submissions"] == 1 and fake.stats()["ignored_fields"] == 2


def test_unknown_model_is_404(fake: FakeWaveSpeed) -> None:
    response = httpx.post(f"{fake.base_url}/api/v3/kwaivgi/kling-video-o9/reference-to-video", json=body(), headers=AUTH)
    assert response.status_code == 404


def test_documented_binary_upload_routes(fake: FakeWaveSpeed) -> None:
    files = {"file": ("ref.png", b"\x89PNG data", "image/png")}
    data = httpx.post(f"{fake.base_url}/api/v3/media/upload/binary", files=files, headers=AUTH).json()["data"]
    assert (data["type"], data["filename"], data["size"]) == ("image", "ref.png", 9)
    assert httpx.get(data["download_url"]).content == b"\x89PNG data"
    older = httpx.post(f"{fake.base_url}/api/v3/upload", files=files, headers=AUTH).json()["data"]
    assert httpx.get(older["url"]).content == b"\x89PNG data" and fake.stats()["uploads"] == 2


@pytest.mark.parametrize(
    ("name", "size", "status"),
    [("big.png", 20 * 1024 * 1024 + 1, 413), ("big.mp4", 100 * 1024 * 1024 + 1, 413), ("ok.mp4", 99 * 1024 * 1024, 200),
     ("notes.txt", 10, 400)],
)
def test_upload_size_and_format_limits(fake: FakeWaveSpeed, name: str, size: int, status: int) -> None:
    ticket = httpx.post(f"{fake.base_url}/api/v3/media/uploads", json={"filename": name, "size": size}, headers=AUTH)
    assert ticket.status_code == status


def test_upload_put_refuses_an_authorization_header(fake: FakeWaveSpeed) -> None:
    ticket = httpx.post(f"{fake.base_url}/api/v3/media/uploads", json={"filename": "a.png", "size": 3}, headers=AUTH).json()
    response = httpx.put(ticket["data"]["upload"]["url"], content=b"abc", headers=AUTH)
    assert response.status_code == 400 and fake.stats()["uploads"] == 0


def test_price_routes_and_balance(fake: FakeWaveSpeed) -> None:
    query = {"model_id": STD, "inputs": body(duration=10, sound=True)}
    price = httpx.post(f"{fake.base_url}/api/v3/model/price", json=query, headers=AUTH).json()["data"]
    assert (price["price"], price["discounted_price"], price["discount_rate"]) == (1.12, 1.12, 1.0)
    pricing = httpx.post(f"{fake.base_url}/api/v3/model/pricing", json=query, headers=AUTH).json()["data"]
    assert pricing == {"model_id": STD, "unit_price": 1.12, "currency": "USD"}
    submit(fake, body(duration=5))
    balance = httpx.get(f"{fake.base_url}/api/v3/balance", headers=AUTH).json()["data"]["balance"]
    assert balance == pytest.approx(100 - 0.42)


def test_history_items_carry_only_the_documented_fields(fake: FakeWaveSpeed) -> None:
    start = time.time()
    first = submit(fake, body(duration=5)).json()["data"]["id"]
    second = submit(fake, body(duration=3), model=PRO).json()["data"]["id"]
    window = {"created_after": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 1))}
    items = history(fake, **window).json()["data"]["items"]
    assert [i["id"] for i in items] == [second, first]  # most recent first
    assert set(items[0]) == {"id", "model", "outputs", "urls", "has_nsfw_contents", "status", "created_at", "error",
                             "executionTime", "timings"}
    assert [i["id"] for i in history(fake, model=STD, **window).json()["data"]["items"]] == [first]
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 60))
    assert history(fake, created_after=later).json()["data"]["items"] == []


@pytest.mark.parametrize(
    ("query", "code"),
    [({"page": 1}, 1400), ({"page_size": 10}, 1400), ({"page": 1, "page_size": 101}, 1401),
     ({"page": 0, "page_size": 10}, 1401), ({"page": 1, "page_size": 10, "status": "created"}, 1401),
     ({"page": 1, "page_size": 10, "created_after": 1700000000}, 1401)],
)
def test_history_query_is_checked_as_documented(fake: FakeWaveSpeed, query: dict[str, Any], code: int) -> None:
    response = httpx.post(f"{fake.base_url}/api/v3/predictions", json=query, headers=AUTH)
    assert response.status_code == 400 and response.json()["error_code"] == code


def test_bronze_refuses_a_third_start_in_its_window_with_no_task_and_no_retry_after(tmp_path: Path) -> None:
    with FakeWaveSpeed(latency=0.05, api_key=KEY, tier="bronze", window=1.0) as fake:
        codes = [submit(fake, body()).status_code for _ in range(3)]
        refused = submit(fake, body())
        assert codes == [200, 200, 429] and "Retry-After" not in refused.headers
        assert fake.stats()["submissions"] == 2 and fake.stats()["rate_limited"] == 2
        time.sleep(1.05)  # the window slides past the first two starts
        assert submit(fake, body()).status_code == 200 and fake.stats()["submissions"] == 3


def test_over_the_concurrency_limit_a_task_waits_in_created(tmp_path: Path) -> None:
    tier = Tier(videos=10, concurrency=2)
    with FakeWaveSpeed(latency=1.5, api_key=KEY, tier=tier) as fake:
        ids = [submit(fake, body()).json()["data"]["id"] for _ in range(3)]
        time.sleep(0.6)
        states = [httpx.get(f"{fake.base_url}/api/v3/predictions/{i}", headers=AUTH).json()["data"]["status"] for i in ids]
        assert states == ["processing", "processing", "created"] and fake.stats()["queued"] == 1
        time.sleep(2.6)  # the first two finish at 1.5 s, the third runs from then on
        last = httpx.get(f"{fake.base_url}/api/v3/predictions/{ids[2]}/result", headers=AUTH).json()["data"]
        assert last["status"] == "completed"
    with FakeWaveSpeed(latency=0.4, api_key=KEY, tier=tier, over_concurrency="reject") as strict:
        assert [submit(strict, body()).status_code for _ in range(3)] == [200, 200, 429]


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


def test_share_of_submits_fails(fake: FakeWaveSpeed) -> None:  # (a Gold account: 20 starts are within its minute)
    fake.set_faults({"submit": {"status": 503, "share": 0.5}, "seed": 7})
    codes = [httpx.post(f"{fake.base_url}/api/v3/{STD}", json=body(), headers=AUTH).status_code for _ in range(20)]
    assert 3 <= codes.count(503) <= 17 and codes.count(200) + codes.count(503) == 20
    assert fake.stats()["submissions"] == 20  # 5xx answers come after the task was created


def test_runs_as_a_process_and_prints_its_url_first(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.wavespeed", "--port", "0", "--latency", "0.1", "--state", str(tmp_path / "s.json"),
         "--tier", "silver"],
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
