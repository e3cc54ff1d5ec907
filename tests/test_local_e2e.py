"""`reelmake render` on a two-shot storyboard with the local Wan VACE backend (issue 7), end to end:
the real diffusers pipeline with tiny random weights, loaded from a directory the storyboard names."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.media import probe

pytest.importorskip("diffusers", reason="the reelmake[local] extra is not installed")
pytestmark = [pytest.mark.local, pytest.mark.slow]


@pytest.fixture
def single_thread_torch():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # OpenMP threads spin against each other on a busy 2-core machine
    yield
    torch.set_num_threads(threads)


def test_render_two_local_shots_and_cut_them(project, single_thread_torch, monkeypatch):
    from tests.tiny_wan import build_tiny_wan

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_tiny_wan(project.root / "models" / "tiny-wan")
    path = project.write("""
        reelmake: 1
        title: Local test
        defaults: {backend: local, model: wan2.1-vace-1.3b, duration: 1}
        characters:
          maya: {description: a runner in orange, images: [refs/a.png, refs/b.png]}
        assets:
          sneaker: {image: refs/c.png}
        shots:
          - {id: one, prompt: "@maya runs past @sneaker", seed: 5}
          - {id: two, prompt: "@maya stops", duration: 1.5}
        deliverables:
          - {name: master, size: 224x128, fps: 16}
        backends:
          local: {model_path: models/tiny-wan, device: cpu, steps: 2, dtype: float32,
                  sizes: {"16:9": 112x64, "9:16": 64x112, "1:1": 64x64}}
    """)
    cache = ["--cache-dir", str(project.root / ".reelmake")]
    result = CliRunner().invoke(main, ["render", str(path), "--json", *cache])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(data["rendered"]) == ["one", "two"]
    master = probe(data["outputs"]["master"])
    assert (master.width, master.height) == (224, 128)
    assert abs(master.duration - 2.5) < 0.1
    lock = (project.root / "spot.lock").read_text()
    assert "seed: 5" in lock and "model: models/tiny-wan" in lock  # as written: keys stay portable
    again = CliRunner().invoke(main, ["render", str(path), "--json", *cache])
    assert json.loads(again.stdout)["rendered"] == []
