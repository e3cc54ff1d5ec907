"""Renders through the loopback fal and Kling (issue 15): real HTTP, real uploads, real mp4s, and the
provider's own counters proving that no fault makes reelmake pay twice for a shot."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from reelmake.engine.outcomes import RenderOptions
from reelmake.engine.api import render, status
from reelmake.engine.project import Project
from reelmake.media import probe
from tests.fakes.fal import FakeFal
from tests.fakes.kling import FakeKling

FAL_KEY = "fal-test-key-7d1c0b9e"
ACCESS, SECRET = "kling-access-key-0123456789abcdef", "kling-secret-key-0123456789abcdef0123456789"
SHOTS = ["intro", "lace", "leap"]


def storyboard(project, host: str, video: str) -> Any:
    return project.write(f"""
reelmake: 1
title: {host} end to end
defaults: {{model: kling-video-o3-std, host: {host}, duration: 3}}
characters:
  maya: {{description: young woman, images: [refs/a.png, refs/b.png]}}
assets:
  sneaker: {{image: refs/c.png}}
  dance: {{video: {video}}}
shots:
  - {{id: intro, prompt: "@maya on a rooftop at dawn"}}
  - {{id: lace, prompt: "@maya laces up @sneaker", sound: true}}
  - {{id: leap, prompt: "@maya leaps like @dance", video: dance, duration: 4}}
backends:
  {host}: {{poll_initial: 0.05, poll_max: 0.1, retry_backoff: 0.05}}
""")


@pytest.fixture
def fal(project, monkeypatch):
    with FakeFal(latency=0.3, api_key=FAL_KEY, clips_dir=project.root.parent / "clips") as server:
        monkeypatch.setenv("FAL_KEY", FAL_KEY)
        monkeypatch.setenv("FAL_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def kling(project, monkeypatch):
    with FakeKling(latency=0.3, access_key=ACCESS, secret_key=SECRET,
                   clips_dir=project.root.parent / "clips") as server:
        monkeypatch.setenv("KLING_ACCESS_KEY", ACCESS)
        monkeypatch.setenv("KLING_SECRET_KEY", SECRET)
        monkeypatch.setenv("KLING_BASE_URL", server.base_url)
        yield server


def run(path, **options):
    return render(path, cache_dir=path.parent / ".reelmake", cut=False, yes=True,
                  options=RenderOptions(backoff=0.05, **options))


# --- fal -------------------------------------------------------------------------------------


def test_fal_renders_every_shot_once_with_uploads_elements_and_the_video_route(project, fal):
    path = storyboard(project, "fal", "refs/dance.mp4")
    result = run(path)
    assert sorted(result.result.ids("rendered")) == sorted(SHOTS) and result.result.spent == Decimal("2.184")
    assert fal.stats()["submissions"] == 3 and fal.stats()["uploads"] == 4  # a, b, c and the video, once each
    sent = {t["endpoint"].rsplit("/", 2)[-2]: t["inputs"] for t in fal.tasks.values()}
    assert sent["video-to-video"]["prompt"] == "@Element1 leaps like @Video1"
    assert sent["video-to-video"]["video_url"].endswith("/dance.mp4")
    for task in fal.tasks.values():
        assert task["fail"] is None, task["fail"]
    clip = project.root / ".reelmake"
    assert any(clip.rglob("*.mp4"))
    again = run(path)
    assert sorted(again.to_json()["cached"]) == sorted(SHOTS) and fal.stats()["submissions"] == 3


@pytest.mark.parametrize("faults", [
    {"submit": {"status": 429, "count": 2, "retry_after": 0.1}},
    {"poll": {"status": 503, "count": 4}},
    {"poll": {"status": "drop", "count": 2}},
    {"truncate_downloads": {"mode": "body", "count": 2}},
    {"upload": {"status": 503, "count": 2}},
], ids=["429", "poll-503", "poll-dropped", "truncated-download", "upload-503"])
def test_fal_faults_that_leave_no_doubt_complete_with_one_request_per_shot(project, fal, faults):
    fal.set_faults(faults)
    result = run(storyboard(project, "fal", "refs/dance.mp4"))
    assert sorted(result.result.ids("rendered")) == sorted(SHOTS), result.result.failures()
    assert fal.stats()["submissions"] == 3


@pytest.mark.parametrize("faults", [
    {"submit": {"status": 500, "count": 1}},
    {"submit": {"status": "drop", "count": 1}},
    {"submit": {"status": 502, "create": False, "count": 1}},
], ids=["500-after-create", "dropped-after-create", "502-before-create"])
def test_an_ambiguous_fal_submit_is_held_never_sent_again_blindly(project, fal, faults):
    path = storyboard(project, "fal", "refs/dance.mp4")
    fal.set_faults(faults)
    first = run(path, jobs=1)
    (held,) = first.result.ids("ambiguous")
    assert "--resubmit" in first.result.outcomes[[o.status for o in first.result.outcomes].index("ambiguous")].error
    created = fal.stats()["submissions"]
    assert created <= 3 and fal.stats()["submit_requests"] == 3  # every shot sent exactly once
    rerun = run(path)
    assert rerun.result.ids("ambiguous") == [held] and fal.stats()["submissions"] == created
    assert {s.id: s.state for s in status(path, cache_dir=path.parent / ".reelmake")}[held] == "ambiguous"
    forced = run(path, resubmit=frozenset({held}))
    assert forced.result.ids("rendered") == [held] and fal.stats()["submissions"] == created + 1


def test_a_failed_fal_request_is_not_billed_so_a_server_error_is_tried_again(project, fal):
    fal.set_faults({"fail_tasks": {"code": 503, "count": 1}})
    result = run(storyboard(project, "fal", "refs/dance.mp4"), jobs=1)
    assert sorted(result.result.ids("rendered")) == sorted(SHOTS)
    billed = [t for t in fal.tasks.values() if t["fail"] is None]
    assert len(billed) == 3 and fal.stats()["submissions"] == 4


def test_a_content_policy_failure_on_fal_is_reported_and_not_sent_again(project, fal):
    fal.set_faults({"fail_tasks": {"code": 422, "count": 1}})
    result = run(storyboard(project, "fal", "refs/dance.mp4"), jobs=1)
    (failure,) = result.result.failures()
    assert "flagged" in failure["error"] and fal.stats()["submissions"] == 3


# --- Kling -----------------------------------------------------------------------------------

VIDEO_URL = "https://cdn.example.com/refs/dance.mp4"


def test_kling_renders_every_shot_once_signed_named_and_inline(project, kling):
    path = storyboard(project, "kling", VIDEO_URL)
    result = run(path)
    assert sorted(result.result.ids("rendered")) == sorted(SHOTS)
    assert kling.stats()["submissions"] == 3 and kling.stats()["lookups"] == 0
    for task in kling.tasks.values():
        assert task["external_task_id"].startswith("rm-") and task["inputs"]["mode"] == "std"
    leap = next(t["inputs"] for t in kling.tasks.values() if "video_list" in t["inputs"])
    assert leap["video_list"][0]["video_url"] == VIDEO_URL and leap["sound"] == "off"
    assert leap["prompt"] == "<<<image_1>>> and <<<image_2>>> leaps like <<<video_1>>>"
    assert not leap["image_list"][0]["image_url"].startswith("http")  # a local image goes inline as Base64
    clip = next((project.root / ".reelmake").rglob("*.mp4"))
    assert probe(clip).has_video


@pytest.mark.parametrize("faults", [
    {"submit": {"status": 500, "count": 1}},
    {"submit": {"status": "drop", "count": 1}},
    {"submit": {"status": 429, "count": 2}},
    {"poll": {"status": 503, "count": 4}},
    {"truncate_downloads": {"mode": "body", "count": 2}},
], ids=["500-after-create", "dropped-after-create", "429", "poll-503", "truncated-download"])
def test_kling_faults_complete_in_the_same_run_with_one_task_per_shot(project, kling, faults):
    kling.set_faults(faults)
    result = run(storyboard(project, "kling", VIDEO_URL), jobs=1)
    assert sorted(result.result.ids("rendered")) == sorted(SHOTS), result.result.failures()
    assert kling.stats()["submissions"] == 3
    if "submit" in faults and faults["submit"]["status"] != 429:
        assert kling.stats()["lookups"] >= 1  # resolved by external_task_id, not by a second submit


def test_a_kling_submit_that_created_nothing_is_found_absent_and_held_until_resubmit(project, kling):
    path = storyboard(project, "kling", VIDEO_URL)
    kling.set_faults({"submit": {"status": 502, "create": False, "count": 1}})
    first = run(path, jobs=1)
    (held,) = first.result.ids("ambiguous")
    assert kling.stats()["submissions"] == 2 and kling.stats()["lookups"] >= 1
    forced = run(path, resubmit=frozenset({held}))
    assert forced.result.ids("rendered") == [held] and kling.stats()["submissions"] == 3


def test_when_the_kling_lookup_is_unavailable_the_shot_waits_for_the_next_run(project, kling):
    path = storyboard(project, "kling", VIDEO_URL)
    kling.set_faults({"submit": {"status": 500, "count": 1}, "poll": {"status": 503, "count": 12}})
    first = run(path, jobs=1)
    assert len(first.result.failures()) == 1 and kling.stats()["submissions"] == 3
    assert "look again" in first.result.failures()[0]["error"]
    kling.set_faults({"reset": True})
    second = run(path)
    assert second.result.ids("rendered") == ["intro"] and sorted(second.to_json()["cached"]) == ["lace", "leap"]
    assert kling.stats()["submissions"] == 3


def test_a_failed_kling_task_is_reported_and_not_sent_again(project, kling):
    kling.set_faults({"fail_tasks": {"message": "Failure to pass the risk control system", "count": 1}})
    result = run(storyboard(project, "kling", VIDEO_URL), jobs=1)
    (failure,) = result.result.failures()
    assert "risk control" in failure["error"] and kling.stats()["submissions"] == 3


def test_sending_a_kling_job_again_with_its_id_adopts_the_task_instead_of_paying(project, kling, tmp_path):
    path = storyboard(project, "kling", VIDEO_URL)
    proj = Project.open(path, cache_dir=project.root / ".reelmake")
    job = proj.jobs[""][0]
    backend = __import__("reelmake.plugins", fromlist=["create_backend"]).create_backend(
        "kling", {"poll_initial": 0.05}, tmp_path / "kling")

    async def scenario() -> tuple[str, str]:
        try:
            first = await backend.submit(job)
            # A crash right after Kling answered, before the attempt was marked: the same id goes out again.
            backend.attempts._write(job, {"attempt": 1, "created": False})
            return first, await backend.submit(job)
        finally:
            await backend.aclose()

    first, second = asyncio.run(scenario())
    assert first == second and kling.stats()["submissions"] == 1 and kling.stats()["submit_requests"] == 2


def test_kling_o3_4k_and_seedance_render_on_fal_in_their_own_formats(project, fal):
    path = project.write("""
reelmake: 1
title: fal catalogue
characters:
  maya: {images: [refs/a.png]}
assets:
  sneaker: {image: refs/c.png}
shots:
  - {id: uhd, prompt: "@maya and @sneaker", model: kling-video-o3-4k, duration: 3}
  - {id: dance, prompt: "@maya dances", model: seedance-2.0-reference, duration: 4, seed: 3}
backends:
  fal: {poll_initial: 0.05, poll_max: 0.1}
""")
    result = run(path)
    assert sorted(result.result.ids("rendered")) == ["dance", "uhd"], result.result.failures()
    assert result.result.spent == Decimal("0.42") * 3 + Decimal("0.3024") * 4
    endpoints = sorted(t["endpoint"] for t in fal.tasks.values())
    assert endpoints == ["bytedance/seedance-2.0/reference-to-video", "fal-ai/kling-video/o3/4k/reference-to-video"]
    assert fal.stats()["submissions"] == 2
