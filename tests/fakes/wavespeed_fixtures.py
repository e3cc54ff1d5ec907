"""Fixtures and helpers shared by the WaveSpeed backend tests (imported by the test modules)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reelmake.backends.wavespeed.backend import WaveSpeedBackend

from .wavespeed import FakeWaveSpeed
from .wavespeed_jobs import make_image, make_video

KEY = "ws-test-key-5f1e0c9a7d3b"
# Bronze with its minute compressed to WINDOW seconds, on both sides: the fake enforces it, the client
# paces by it (``rate_limit`` overrides the tier's 2 per 60 s).
WINDOW = 0.4
FAST = {
    "poll_initial": 0.02,
    "poll_max": 0.05,
    "rate_limit_backoff": 0.05,
    "retry_backoff": 0.02,
    "submit_timeout": 2.0,
    "read_timeout": 2.0,
    "rate_limit": {"submits": 2, "per": WINDOW},
}


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("refs")
    return {
        "woman": make_image(root / "woman.png", "red"),
        "man": make_image(root / "man.png", "blue"),
        "beach": make_image(root / "beach.jpg", "yellow", "480x270"),
        "walk": make_video(root / "walk.mp4"),
        **{f"prop{i}": make_image(root / f"prop{i}.png", c) for i, c in enumerate(("green", "white", "purple", "orange"))},
    }


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fake-clips")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clips: Path) -> Iterator[FakeWaveSpeed]:
    state = tmp_path / "fake" / "state.json"
    with FakeWaveSpeed(latency=0.1, api_key=KEY, state=state, clips_dir=clips, tier="bronze", window=WINDOW) as server:
        monkeypatch.setenv("WAVESPEED_API_KEY", KEY)
        monkeypatch.setenv("WAVESPEED_BASE_URL", server.base_url)
        yield server


def backend(tmp_path: Path, **settings: Any) -> WaveSpeedBackend:
    return WaveSpeedBackend({**FAST, **settings}, tmp_path / "cache")


def run(backend: WaveSpeedBackend, coro_fn: Any) -> Any:
    """Run ``coro_fn()`` on a fresh loop and close the backend's connections afterwards."""

    async def main() -> Any:
        try:
            return await coro_fn()
        finally:
            await backend.aclose()

    return asyncio.run(main())


async def render(b: WaveSpeedBackend, job: Any, dest: Path, states: list[str] | None = None) -> str:
    task_id = await b.submit(job, on_status=lambda state, detail: states.append(state) if states is not None else None)
    output = await b.wait(job, task_id, lambda state, detail: states.append(state) if states is not None else None)
    await b.fetch(job, output, dest)
    return task_id
