"""A generated character sheet and a continuity chain on the WaveSpeed fake (issue 19): Seedream 4.5 makes
the image (delivered as JPEG), Kling O3 starts the next shot from the last frame of the one before; each
render is paid once and every reference is uploaded once."""

from __future__ import annotations

from pathlib import Path

import yaml

from reelmake.engine.outcomes import RenderOptions
from reelmake.engine.api import render
from reelmake.engine.project import Project
from tests.fakes.wavespeed import FakeWaveSpeed
from tests.fakes.wavespeed_fixtures import clips  # noqa: F401 - fixture
from tests.test_wavespeed_render import FAST, provider, refs  # noqa: F401 - fixtures


def storyboard(root: Path, refs: Path) -> Path:  # noqa: F811
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "sneaker.png").write_bytes((refs / "sneaker.png").read_bytes())
    board = {
        "reelmake": 1, "title": "Chain", "defaults": {"backend": "wavespeed", "duration": 3},
        "characters": {"maya": {"description": "young woman, silver buzz cut",
                                "generate": {"model": "seedream-4.5", "prompt": "character sheet, front and side"}}},
        "assets": {"sneaker": {"image": "refs/sneaker.png"}},
        "shots": [{"id": "lace", "prompt": "@maya laces up @sneaker"},
                  {"id": "leap", "prompt": "@maya leaps the gap", "continue_from": "lace"}],
        "backends": {"wavespeed": {**FAST, "tier": "bronze", "rate_limit": {"submits": 2, "per": 1.2}}},
    }
    path = root / "spot.yaml"
    path.write_text(yaml.safe_dump(board, sort_keys=False))
    return path


def test_a_seedream_character_and_a_kling_chain_render_in_order_each_paid_once(
        tmp_path: Path, refs: Path, provider: FakeWaveSpeed) -> None:  # noqa: F811
    path = storyboard(tmp_path, refs)
    summary = render(path, cache_dir=tmp_path / ".reelmake", cut=False, yes=True, price_check=True,
                     options=RenderOptions())
    assert summary.result.failures() == []
    assert summary.to_json()["images"] == ["character:maya"] and summary.to_json()["rendered"] == ["lace", "leap"]
    stats = provider.stats()
    assert (stats["submissions"], stats["ignored_fields"]) == (3, 0)
    tasks = sorted(provider.tasks.values(), key=lambda t: t["created_at"])
    image, lace, leap = (t["inputs"] for t in tasks)
    assert tasks[0]["model"] == "bytedance/seedream-v4.5" and image["width"] == image["height"] == 2048
    assert image["prompt"] == "young woman, silver buzz cut. character sheet, front and side"
    assert lace["prompt"] == "Figure 1 laces up Figure 2"
    assert leap["prompt"] == "Start from Figure 1. Figure 2 leaps the gap"
    assert leap["images"][1] == lace["images"][0]  # the generated sheet, uploaded once, used by both
    assert leap["images"][0] not in lace["images"]  # lace's last frame
    project = Project.open(path, cache_dir=tmp_path / ".reelmake")
    sheet = project.workspace.clips.get(project.jobs[""][0].key)
    assert sheet is not None and sheet.clip.suffix == ".jpg"  # stored as what it is
    assert all(r.status == "cached" for r in project.plan().rows)
