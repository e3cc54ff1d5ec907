"""One contract for every backend: what the orchestrator relies on, checked through the plugin and the
protocol alone (PySceneDetect's tests/test_video_stream.py is the model).

Each backend gets a harness: the settings and environment it needs here (a loopback fake for a hosted
API, the tiny Wan pipeline for the local model), and a way to count paid submissions. A new backend
adds a harness; every test below then runs against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reelmake.catalog import get_model, load_offers
from reelmake.core.compile import render_key
from reelmake.errors import BackendError, BackendUnavailable
from reelmake.jobs import (
    Ambiguity,
    InputFile,
    JobId,
    Mention,
    Reconciliation,
    Reference,
    RenderJob,
    ShotSpec,
    file_ref,
)
from reelmake.media import probe
from reelmake.plugins import LocalBackend, RemoteBackend, get_plugin
from tests.conftest import make_image


@dataclass
class Harness:
    """What one backend needs to run here."""

    name: str
    model: str
    settings: dict[str, Any] = field(default_factory=dict)
    submissions: Callable[[], int] | None = None  # paid backends: tasks the provider has created


@contextlib.contextmanager
def _animatic(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    yield Harness("animatic", "animatic")


@contextlib.contextmanager
def _wavespeed(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    from tests.fakes.wavespeed import FakeWaveSpeed

    with FakeWaveSpeed(latency=0.1, api_key="contract-key", state=tmp_path / "fake.json",
                       clips_dir=tmp_path / "fake-clips") as server:
        monkeypatch.setenv("WAVESPEED_API_KEY", "contract-key")
        monkeypatch.setenv("WAVESPEED_BASE_URL", server.base_url)
        yield Harness("wavespeed", "kling-video-o3-std", {"poll_initial": 0.05, "poll_max": 0.1},
                      lambda: server.stats()["submissions"])


@contextlib.contextmanager
def _local(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    model = request.getfixturevalue("tiny_wan")  # skips without the local extra
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = {"model_path": str(model), "device": "cpu", "steps": 2,
                "sizes": {"16:9": "112x64"}, "fps": 8}
    yield Harness("local", "wan2.1-vace-1.3b", settings)


@contextlib.contextmanager
def _fal(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    from tests.fakes.fal import FakeFal

    with FakeFal(latency=0.1, api_key="contract-fal-key", clips_dir=tmp_path / "fake-clips") as server:
        monkeypatch.setenv("FAL_KEY", "contract-fal-key")
        monkeypatch.setenv("FAL_BASE_URL", server.base_url)
        yield Harness("fal", "kling-video-o3-std", {"poll_initial": 0.05, "poll_max": 0.1},
                      lambda: server.stats()["submissions"])


@contextlib.contextmanager
def _kling(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    from tests.fakes.kling import FakeKling

    with FakeKling(latency=0.1, access_key="contract-access-key-0123456789abcdef", secret_key="contract-secret-key-0123456789abcdef0123",
                   clips_dir=tmp_path / "fake-clips") as server:
        monkeypatch.setenv("KLING_ACCESS_KEY", "contract-access-key-0123456789abcdef")
        monkeypatch.setenv("KLING_SECRET_KEY", "contract-secret-key-0123456789abcdef0123")
        monkeypatch.setenv("KLING_BASE_URL", server.base_url)
        yield Harness("kling", "kling-video-o3-std", {"poll_initial": 0.05, "poll_max": 0.1},
                      lambda: server.stats()["submissions"])


HARNESSES = {"animatic": _animatic, "wavespeed": _wavespeed, "local": _local, "fal": _fal, "kling": _kling}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with HARNESSES[request.param](request, tmp_path, monkeypatch) as ready:
        yield ready


def _job(harness: Harness, tmp_path: Path, shot: str = "contract") -> RenderJob:
    """A 3-second 16:9 shot with one reference image, compiled by the backend's own request format."""
    image = make_image(tmp_path / "refs" / "maya.png", 320, 320, "orange")
    digest = __import__("hashlib").sha256(image.read_bytes()).hexdigest()
    spec = ShotSpec(shot=shot, prompt=(Mention("maya"), " laces up on a rooftop"), aspect_ratio="16:9",
                    duration=3.0, sound=False, shot_type="intelligent",
                    references=(Reference("maya", "character", (file_ref(digest),), "a runner"),))
    model = get_model(harness.model, harness.name)
    fmt = get_plugin(harness.name).compilers[model.compiler]
    request = fmt.request(spec, model, harness.settings)
    return RenderJob(id=JobId(shot), key=render_key(harness.name, model.id, model.endpoint, request),
                     backend=harness.name, model=model.id, endpoint=model.endpoint, request=request,
                     files={digest: InputFile(digest, image.resolve(), "image", "maya")}, duration=3.0,
                     aspect_ratio="16:9", sound=False, mode="base", cost=model.rates["base"] * 3,
                     settings=harness.settings)


def _backend(harness: Harness, tmp_path: Path):
    plugin = get_plugin(harness.name)
    return plugin.factory(plugin.runtime_settings(harness.settings, tmp_path), tmp_path / "backend")


def test_the_plugin_is_registered_under_its_name_with_a_valid_settings_schema(harness: Harness) -> None:
    plugin = get_plugin(harness.name)
    assert plugin.name == harness.name and plugin.description
    Draft202012Validator.check_schema(dict(plugin.settings_schema))
    assert plugin.settings_schema.get("additionalProperties") is False  # a typo in a setting is an error
    assert list(Draft202012Validator(dict(plugin.settings_schema)).iter_errors(harness.settings)) == [] \
        or harness.name == "local"  # the harness's model_path is absolute, which the schema allows too


def test_every_catalog_model_of_the_backend_speaks_a_format_the_backend_has(harness: Harness) -> None:
    plugin = get_plugin(harness.name)
    models = [offers[harness.name] for offers in load_offers().values() if harness.name in offers]
    assert models
    for model in models:
        assert model.compiler in plugin.compilers, f"{model.id} speaks {model.compiler!r}"


def test_requests_are_json_deterministic_and_carry_files_by_content(harness: Harness, tmp_path: Path) -> None:
    first, second = _job(harness, tmp_path), _job(harness, tmp_path)
    assert json.loads(json.dumps(first.request)) == first.request
    assert first.request == second.request and first.key == second.key
    assert str(tmp_path) not in json.dumps(first.request)  # never a path: keys must not depend on where files live
    assert any(file_ref(d) in json.dumps(first.request) for d in first.files)


def test_the_factory_builds_a_backend_of_the_declared_kind(harness: Harness, tmp_path: Path) -> None:
    backend = _backend(harness, tmp_path)
    assert backend.name == harness.name and backend.remote is get_plugin(harness.name).remote
    assert isinstance(backend, RemoteBackend if backend.remote else LocalBackend)
    asyncio.run(backend.aclose())


@pytest.mark.slow
def test_a_job_becomes_a_clip_of_its_duration_and_aspect(harness: Harness, tmp_path: Path) -> None:
    job = _job(harness, tmp_path)
    backend = _backend(harness, tmp_path)
    dest = tmp_path / "clip.mp4"
    statuses: list[tuple[str, str]] = []

    async def scenario() -> None:
        try:
            backend.preflight([job])
            if backend.remote:
                sends: list[int] = []

                async def on_send() -> None:  # the engine journals its intent here, right before the POST
                    sends.append(1)

                task_id = await backend.submit(job, on_status=lambda s, d: statuses.append((s, d)), on_send=on_send)
                assert isinstance(task_id, str) and task_id and sends == [1]
                output = await backend.wait(job, task_id, lambda s, d: statuses.append((s, d)))
                assert output.task_id == task_id
                await backend.fetch(job, output, dest)
                await backend.fetch(job, output, tmp_path / "again.mp4")  # safe to repeat after a crash
            else:
                await backend.run(job, dest, lambda s, d: statuses.append((s, d)))
        finally:
            await backend.aclose()

    asyncio.run(scenario())
    info = probe(dest)
    assert info.has_video and info.duration == pytest.approx(3.0, abs=0.5)
    assert info.width and info.height and info.width > info.height
    assert all(isinstance(s, str) and isinstance(d, str) for s, d in statuses)  # progress, when there is any
    if harness.submissions is not None:
        assert harness.submissions() == 1


def test_reconcile_of_a_job_never_submitted_finds_nothing_and_submits_nothing(harness: Harness,
                                                                               tmp_path: Path) -> None:
    backend = _backend(harness, tmp_path)
    if not backend.remote:
        pytest.skip("local backends have no provider tasks")

    async def scenario() -> str | None:
        try:
            now = time.time()
            return await backend.reconcile(_job(harness, tmp_path, "never-sent"), Ambiguity(now - 5, now))
        finally:
            await backend.aclose()

    found = asyncio.run(scenario())
    assert isinstance(found, Reconciliation) and found.task_id is None and found.candidates == ()
    assert harness.submissions is not None and harness.submissions() == 0


def test_waiting_on_a_task_the_provider_never_had_raises_a_typed_error(harness: Harness, tmp_path: Path) -> None:
    backend = _backend(harness, tmp_path)
    if not backend.remote:
        pytest.skip("local backends have no provider tasks")

    async def scenario() -> None:
        try:
            await backend.wait(_job(harness, tmp_path), "no-such-task", lambda s, d: None)
        finally:
            await backend.aclose()

    with pytest.raises(BackendError) as caught:
        asyncio.run(scenario())
    assert type(caught.value) is not BackendError  # one of the classes the orchestrator acts on


def test_a_paid_backend_without_its_key_refuses_before_anything_is_sent(harness: Harness, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if not get_plugin(harness.name).remote:
        pytest.skip("free backends need no key")
    for variable in ("WAVESPEED_API_KEY", "FAL_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
        monkeypatch.delenv(variable, raising=False)
    backend = _backend(harness, tmp_path)
    with pytest.raises(BackendUnavailable):
        backend.preflight([_job(harness, tmp_path)])
    assert harness.submissions is not None and harness.submissions() == 0


def test_a_paid_backend_names_its_account_for_claims_without_revealing_the_key(
        harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims in a shared store are per account: the fingerprint is stable for one key, differs for
    another, never contains the key, and is None without one (an unknown account claims nothing)."""
    if not get_plugin(harness.name).remote:
        pytest.skip("free backends need no key")
    backend = _backend(harness, tmp_path)
    first = backend.account(b"salt")
    assert first and first == backend.account(b"salt") and first != backend.account(b"other salt")
    variables = [v for v in ("WAVESPEED_API_KEY", "FAL_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY")
                 if v in os.environ]
    for variable in variables:
        assert os.environ[variable] not in first
        monkeypatch.setenv(variable, "another-key-of-another-account")
    assert backend.account(b"salt") not in (None, first)
    for variable in variables:
        monkeypatch.delenv(variable)
    assert backend.account(b"salt") is None
