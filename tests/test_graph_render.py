"""Rendering the build graph (issue 19): chains of shots and generated images, re-rendered make-style,
blocked when an upstream fails, held until approved, with ``--only`` rendering what a shot needs first.

The animatic draws real previews (a re-rendered shot's last frame really differs); the counting backend
(tests/engine_backend.py) is a paid provider that counts every submission, and sells images too."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.engine.outcomes import RenderOptions
from reelmake.engine.api import plan
from reelmake.engine.project import Project
from reelmake.fsutil import sha256_file
from tests.engine_backend import install
from tests.test_engine import provider, run, storyboard


@pytest.fixture(autouse=True)
def counting_backend():
    install()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def rows(path) -> dict:
    return {r.name: r for r in plan(path, cache_dir=path.parent / ".reelmake").rows}


def lock_of(path) -> dict:
    return yaml.safe_load(path.with_suffix(".lock").read_text())


ANIMATIC = """
    reelmake: 1
    title: Chain
    defaults: {backend: animatic, duration: 1, aspect_ratio: "1:1"}
    characters:
      maya: {images: [refs/a.png]}
    shots:
      - {id: lace-up, prompt: "@maya laces up"}
      - {id: leap, prompt: "@maya leaps the gap", continue_from: lace-up}
      - {id: landing, prompt: "she lands", continue_from: leap}
      - {id: skyline, prompt: "the city at dawn"}
    deliverables: [{name: master, size: 320x320, fps: 24}]
"""


def test_a_chain_of_three_renders_in_order_and_rerendering_the_first_rerenders_the_chain_and_nothing_else(project):
    path = project.write(ANIMATIC)
    first = run(path)
    assert sorted(first.result.ids("rendered")) == ["lace-up", "landing", "leap", "skyline"]
    renders = lock_of(path)["renders"]["animatic"]
    # leap starts from lace-up's last frame: a PNG extracted from lace-up's clip, its first reference.
    assert renders["leap"]["inputs"][renders["leap"]["request"]["images"][0].removeprefix("sha256:")] == \
        "lace-up (last frame)"
    assert renders["leap"]["request"]["prompt"] == "Start from lace-up (last frame). maya leaps the gap"

    path.write_text(path.read_text().replace("@maya laces up", "@maya laces up slowly"))
    planned = rows(path)
    assert {name: (r.status, r.changed) for name, r in planned.items()} == {
        "lace-up": ("changed", ("prompt",)),
        "leap": ("changed", ("continues from lace-up (re-rendered)",)),
        "landing": ("changed", ("continues from leap (re-rendered)",)),
        "skyline": ("cached", ()),
    }
    assert planned["landing"].waiting_for == ("leap",)
    again = run(path)
    assert again.result.ids("rendered") == ["lace-up", "leap", "landing"]  # in build order, skyline untouched
    assert {r.status for r in rows(path).values()} == {"cached"}
    text = cli("plan", str(path), "--cache-dir", str(project.root / ".reelmake")).output
    assert "Plan: 0 to render" in text


def test_a_generated_character_used_by_two_shots_renders_once_first_and_its_description_rerenders_exactly_those(project):
    shots = """  - {id: s1, prompt: "@maya runs"}
  - {id: s2, prompt: "@maya jumps"}
  - {id: s3, prompt: "@sneaker on a ledge"}"""
    path = storyboard(project, shots)
    path.write_text(path.read_text().replace("  maya: {images: [refs/a.png, refs/b.png]}",
                                             "  maya: {description: a runner, generate: {prompt: character sheet}}"))
    done = cli("render", str(path), "--yes", "--no-cut", "--json", "--cache-dir", str(project.root / ".reelmake"))
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["images"] == ["character:maya"] and sorted(summary["rendered"]) == ["s1", "s2", "s3"]
    assert Decimal(summary["spent"]) == Decimal("0.05") + 3 * Decimal("0.20")
    assert provider(project)["by_shot"] == {"character:maya": 1, "s1": 1, "s2": 1, "s3": 1}
    state = provider(project)
    image_task = next(t for t in state["tasks"].values() if t["shot"] == "character:maya")
    shot_tasks = [t for t in state["tasks"].values() if t["shot"] in ("s1", "s2")]
    assert all(t["created"] > image_task["created"] for t in shot_tasks)  # the image first

    path.write_text(path.read_text().replace("description: a runner", "description: a runner in orange"))
    planned = rows(path)
    assert {n: r.status for n, r in planned.items()} == \
        {"character:maya": "changed", "s1": "changed", "s2": "changed", "s3": "cached"}
    assert planned["s1"].changed == ("reference maya changed",) and planned["s1"].waiting_for == ("character:maya",)
    run(path)
    assert provider(project)["by_shot"] == {"character:maya": 2, "s1": 2, "s2": 2, "s3": 1}


def test_an_upstream_failure_blocks_the_downstream_shots_which_are_never_submitted(project):
    shots = """  - {id: lace-up, prompt: "@maya laces up"}
  - {id: leap, prompt: "@maya leaps", continue_from: lace-up}
  - {id: landing, prompt: "@maya lands", continue_from: leap}
  - {id: skyline, prompt: "the city"}"""
    path = storyboard(project, shots, settings=', fail_task: ["lace-up"]')
    done = cli("render", str(path), "--yes", "--no-cut", "--json", "--cache-dir", str(project.root / ".reelmake"))
    assert done.exit_code == 1
    failed = {f["id"]: f for f in json.loads(done.stdout)["failed"]}
    assert failed["lace-up"]["status"] == "failed"
    assert failed["leap"]["status"] == failed["landing"]["status"] == "blocked"
    assert failed["leap"]["error"].startswith("lace-up failed: ") and "nothing was submitted" in failed["leap"]["error"]
    assert failed["landing"]["error"].startswith("leap blocked")
    assert provider(project)["by_shot"] == {"lace-up": 1, "skyline": 1}  # leap and landing never submitted


def test_an_approval_gate_holds_the_shots_using_an_image_until_a_take_of_it_is_approved(project):
    shots = """  - {id: s1, prompt: "@maya runs"}
  - {id: s2, prompt: "@maya jumps"}
  - {id: s3, prompt: "the city"}"""
    path = storyboard(project, shots)
    path.write_text(path.read_text().replace(
        "  maya: {images: [refs/a.png, refs/b.png]}",
        "  maya: {description: a runner, generate: {prompt: character sheet, approve_before_use: true}}"))
    cache = str(project.root / ".reelmake")
    planned = rows(path)
    assert planned["s1"].held_by == ("character:maya",) and planned["s3"].held_by == ()
    the_plan = plan(path, cache_dir=project.root / ".reelmake")
    assert the_plan.render_cost == Decimal("0.05") + Decimal("0.20")  # held shots are not submitted this run
    first = json.loads(cli("render", str(path), "--yes", "--no-cut", "--json", "--cache-dir", cache).stdout)
    assert first["images"] == ["character:maya"] and first["rendered"] == ["s3"]
    assert first["held"] == [{"id": "s1", "held_by": ["character:maya"]}, {"id": "s2", "held_by": ["character:maya"]}]
    assert provider(project)["by_shot"] == {"character:maya": 1, "s3": 1}

    approved = cli("approve", str(path), "character:maya", "--cache-dir", cache)
    assert approved.exit_code == 0, approved.output
    second = json.loads(cli("render", str(path), "--yes", "--no-cut", "--json", "--cache-dir", cache).stdout)
    assert sorted(second["rendered"]) == ["s1", "s2"] and second["held"] == []
    assert provider(project)["by_shot"] == {"character:maya": 1, "s1": 1, "s2": 1, "s3": 1}


def test_only_a_downstream_shot_renders_what_it_needs_first_and_says_so(project):
    path = project.write(ANIMATIC)
    done = cli("render", str(path), "--only", "landing", "--no-cut", "--json", "--cache-dir",
               str(project.root / ".reelmake"))
    assert done.exit_code == 0, done.output
    assert "rendering lace-up first: leap needs it" in done.stderr
    assert "rendering leap first: landing needs it" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["rendered"] == ["lace-up", "leap", "landing"]
    assert summary["needed"] == {"lace-up": ["leap"], "leap": ["landing"]}
    assert rows(path)["skyline"].status == "new"


def test_a_chain_that_does_not_fit_the_cap_is_not_started_at_all(project):
    shots = """  - {id: lace-up, prompt: "@maya laces up"}
  - {id: leap, prompt: "@maya leaps", continue_from: lace-up}
  - {id: landing, prompt: "@maya lands", continue_from: leap}"""
    path = storyboard(project, shots)
    result = run(path, options=RenderOptions(max_cost=Decimal("0.50")))  # the chain costs 3 × $0.20
    outcomes = {o.job_ids[0]: o for o in result.result.outcomes}
    assert outcomes["lace-up"].status == "skipped"
    assert outcomes["lace-up"].error.startswith("the chain from lace-up costs $0.60 with the 2 render(s) made from it")
    assert outcomes["leap"].status == outcomes["landing"].status == "blocked"
    assert provider(project).get("submissions", 0) == 0


def test_the_frame_a_shot_continues_from_is_extracted_once_and_is_the_same_bytes_again(project):
    path = project.write(ANIMATIC)
    run(path)
    proj = Project.open(path, cache_dir=project.root / ".reelmake")
    leap = next(j for j in proj.jobs[""] if j.id.shot == "leap")
    (frame,) = [f for f in leap.files.values() if f.name == "lace-up (last frame)"]
    assert frame.path.suffix == ".png" and sha256_file(frame.path) == frame.sha256
    frame.path.unlink()  # extracted again, bit for bit: the key of leap does not move
    again = Project.open(path, cache_dir=project.root / ".reelmake")
    assert next(j for j in again.jobs[""] if j.id.shot == "leap").key == leap.key


@pytest.mark.slow
def test_the_chain_example_renders_offline_and_a_new_description_rerenders_the_sheet_and_its_shots(tmp_path):
    import shutil

    from tests.test_cli import REPO

    shutil.copytree(REPO / "storyboards" / "chain", tmp_path / "chain")
    (tmp_path / ".git").mkdir()
    path = tmp_path / "chain" / "chain.yaml"
    cache = str(tmp_path / ".reelmake")
    done = cli("render", str(path), "--no-cut", "--json", "--cache-dir", cache)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["images"] == ["character:maya"]
    path.write_text(path.read_text().replace("orange windbreaker", "red windbreaker"))
    planned = json.loads(cli("plan", str(path), "--json", "--cache-dir", cache).stdout)
    assert {r["id"]: r["status"] for r in planned["shots"]} == {
        "character:maya": "changed", "skyline": "cached", "lace-up": "changed", "sprint": "changed",
        "leap": "changed", "packshot": "cached"}
    again = json.loads(cli("render", str(path), "--no-cut", "--json", "--cache-dir", cache).stdout)
    assert again["images"] == ["character:maya"] and again["rendered"] == ["lace-up", "sprint", "leap"]


def test_the_review_board_shows_a_generated_image_as_a_still_to_approve(project):
    from reelmake.review.board import Links, board, poster

    path = project.write(ANIMATIC.replace("maya: {images: [refs/a.png]}",
                                          "maya: {description: a runner, generate: {prompt: sheet, "
                                          "approve_before_use: true}}"))
    run(path)
    proj = Project.open(path, cache_dir=project.root / ".reelmake")
    links = Links(clip=lambda *a: "clip", poster=lambda *a: "poster", cut=lambda *a: "cut")
    shots = {s["name"]: s for s in board(proj, links)["shots"]}
    assert shots["character:maya"]["kind"] == "image" and shots["character:maya"]["takes"][0]["clip"] == "clip"
    assert shots["lace-up"]["kind"] == "shot" and shots["lace-up"]["status"] == "pending"  # held
    still = poster(proj, shots["character:maya"]["takes"][0]["key"])
    assert still is not None and still.stat().st_size > 0
