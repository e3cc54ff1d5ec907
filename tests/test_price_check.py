"""`render --price-check`: ask the provider before paying; stop when its price differs from the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reelmake.catalog import register_model
from reelmake.cli import main
from tests.conftest import make_image
from tests.fakes.wavespeed_fixtures import FAST, KEY, clips, fake  # noqa: F401  (pytest fixtures)


def storyboard(root: Path, model: str) -> Path:
    (root / ".git").mkdir(parents=True, exist_ok=True)
    make_image(root / "street.png", 320, 320)
    settings = ", ".join(f"{k}: {v}" for k, v in FAST.items())
    path = root / "spot.yaml"
    path.write_text(f"""
reelmake: 1
title: Price check
defaults: {{backend: wavespeed, model: {model}, duration: 5}}
assets:
  street: {{image: street.png}}
shots:
  - {{id: a, prompt: "@street at dawn"}}
  - {{id: b, prompt: "@street at dusk", sound: true}}
backends:
  wavespeed: {{{settings}}}
""")
    return path


def render(path: Path, *extra: str):
    return CliRunner().invoke(main, ["render", str(path), "--no-cut", "--yes", "--price-check",
                                     "--cache-dir", str(path.parent / ".reelmake"), *extra])


def test_matching_prices_let_the_render_go_ahead(tmp_path, fake):  # noqa: F811
    result = render(storyboard(tmp_path, "kling-video-o3-std"))
    assert result.exit_code == 0, result.output
    assert fake.stats()["submissions"] == 2


def test_a_price_mismatch_stops_before_anything_is_submitted(tmp_path, fake):  # noqa: F811
    register_model("kling-mispriced", {
        "backend": "wavespeed", "endpoint": "kwaivgi/kling-video-o3-std/reference-to-video", "compiler": "kling-o3",
        "durations": {"min": 3, "max": 15, "integer": True}, "aspect_ratios": ["16:9"],
        "features": {"sound": True}, "pricing": {"rates": {"base": "0.05", "sound": "0.112", "video": "0.126"}},
    })
    result = render(storyboard(tmp_path, "kling-mispriced"))
    assert result.exit_code == 1
    assert "a: wavespeed quotes $0.42, the catalog says $0.25" in result.output
    assert fake.stats()["submissions"] == 0
    assert KEY not in result.output


pytest.importorskip("wavespeed", reason="the test extra (official SDK) is not installed")
