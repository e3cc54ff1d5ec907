"""The quick start's promise, end to end: `reelmake render` on the demo storyboard makes playable
deliverables of the right duration, size and frame rate, and a rerun does nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.media import probe

DEMO = Path(__file__).resolve().parents[1] / "storyboards" / "demo" / "demo.yaml"
pytestmark = pytest.mark.slow


def test_the_demo_renders_and_cuts_offline(tmp_path):
    demo = tmp_path / "demo"
    shutil.copytree(DEMO.parent, demo)  # the lock is written beside the storyboard: keep the repo clean
    args = ["render", str(demo / DEMO.name), "--json", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["failed"] == [] and data["spent"] == "0.000"
    # 3 + 4 + 4 + 3.5 (trimmed) + 3 seconds of shots, minus two 0.5 s transitions
    expected = {"master": (1280, 720), "vertical": (720, 1280)}
    for name, (width, height) in expected.items():
        info = probe(Path(data["outputs"][name]))
        assert (info.width, info.height, info.fps) == (width, height, 24)
        assert abs(info.duration - 16.5) < 0.1, info.duration
        assert info.video_codec == "h264" and info.audio_codec == "aac"
        report = json.loads(Path(data["outputs"][name]).with_suffix(".json").read_text())
        assert abs(report["loudness"] - -14) <= 1.0 and report["true_peak"] <= -1.0, report  # mix: -14 LUFS, -1 dBTP
        srt = Path(data["outputs"][name]).with_suffix(".srt").read_text()
        assert "Made for first light." in srt
    # Ten renders: five shots at 16:9 and five natively at 9:16 for the `reframe: render` deliverable.
    assert len(data["rendered"]) == 10
    mtime = Path(data["outputs"]["master"]).stat().st_mtime_ns
    again = json.loads(CliRunner().invoke(main, args).stdout)
    assert again["rendered"] == [] and Path(again["outputs"]["master"]).stat().st_mtime_ns == mtime
