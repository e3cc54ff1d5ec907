"""Where cuts land: drafts beside finals, animatic previews apart from them, finals never overwritten."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from reelmake.cli import main
from reelmake.engine.project import Project
from reelmake.media import probe

# Meant for a hosted model; rendered here with `--backend animatic`, so it is a preview.
KLING = """
reelmake: 1
title: Preview me
defaults: {backend: wavespeed, model: kling-video-o3-std, duration: 3}
shots:
  - id: one
    prompt: "A runner at dawn"
    caption: First light.
  - id: two
    prompt: "A runner at dusk"
    transition: {type: fade, duration: 0.5}
deliverables:
  - {name: master, size: 320x180, length: 5.5}
"""


def run(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_animatic_preview_writes_its_cuts_to_an_animatic_folder(project, tmp_path):
    spot = project.write(KLING)
    data = run("render", str(spot), "--backend", "animatic", "--cache-dir", str(tmp_path / "cache"))
    master = project.root / "out" / "spot" / "animatic" / "master.mp4"
    assert data["outputs"]["master"] == str(master)
    assert master.is_file() and master.with_suffix(".json").is_file()
    assert not (project.root / "out" / "spot" / "master.mp4").exists()  # the final's place stays free
    assert probe(master).duration == 5.5  # 132 frames at 24 fps


def test_a_storyboard_made_for_the_animatic_keeps_its_own_folder(project, tmp_path):
    spot = project.write(KLING.replace("backend: wavespeed, model: kling-video-o3-std", "backend: animatic"))
    for backend in (None, "animatic"):
        opened = Project.open(spot, backend=backend, cache_dir=tmp_path / "cache")
        assert not opened.preview and opened.out_dir("") == project.root / "out" / "spot"


def test_a_draft_is_written_beside_the_final_and_never_over_it(project, tmp_path):
    spot = project.write(KLING)
    cache = str(tmp_path / "cache")
    final = run("render", str(spot), "--backend", "animatic", "--cache-dir", cache)["outputs"]["master"]
    before = open(final, "rb").read()
    stamp = os.stat(final).st_mtime_ns
    draft = run("cut", str(spot), "--backend", "animatic", "--cache-dir", cache, "--draft")["outputs"]["master"]
    folder = project.root / "out" / "spot" / "animatic"
    assert draft == str(folder / "master.draft.mp4")
    for suffix in (".mp4", ".json", ".jpg", ".srt", ".vtt"):
        assert (folder / f"master.draft{suffix}").is_file(), suffix
    report = json.loads((folder / "master.draft.json").read_text())
    assert report["draft"] is True and report["width"] == 160
    assert open(final, "rb").read() == before and os.stat(final).st_mtime_ns == stamp
    assert not json.loads((folder / "master.json").read_text())["draft"]
