"""Takes (issue 13): --force adds a take, `takes: N`, `reelmake take`, unknown ids, plan and render agree."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.core.document import parse
from reelmake.engine.api import plan
from reelmake.engine.project import Project
from tests.engine_backend import install
from tests.planning import jobs_of
from tests.test_engine import FIVE, provider, run, storyboard


@pytest.fixture(autouse=True)
def counting_backend():
    install()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def lock_of(path) -> dict:
    return yaml.safe_load(path.with_suffix(".lock").read_text())


def test_force_adds_a_new_take_and_plan_and_render_agree(project):
    path = storyboard(project, FIVE)
    run(path)
    cache = str(project.root / ".reelmake")
    planned = json.loads(cli("plan", str(path), "--force", "s1", "--json", "--cache-dir", cache).stdout)
    forced = [r for r in planned["shots"] if r["status"] != "cached"]
    assert [(r["id"], r["take"], r["takes"], r["status"], r["forced"]) for r in forced] == \
        [("s1#2", 2, 2, "new", True)]
    done = cli("render", str(path), "--force", "s1", "--yes", "--no-cut", "--json", "--cache-dir", cache)
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["rendered"] == ["s1"] and summary["takes"] == {"s1": [2]}
    assert provider(project)["by_shot"] == {**{f"s{i}": 1 for i in range(5)}, "s1#2": 1}  # take 1 kept, not paid again
    renders = lock_of(path)["renders"]["counting"]
    assert renders["s1"]["key"] != renders["s1#2"]["key"]
    # The new take stays a take of the shot: the next plan shows both, cached, and forcing again adds a third.
    again = plan(path, cache_dir=project.root / ".reelmake")
    assert [(r.name, r.status, r.takes) for r in again.rows if r.id.shot == "s1"] == \
        [("s1", "cached", 2), ("s1#2", "cached", 2)]
    third = plan(path, cache_dir=project.root / ".reelmake", force=["s1"])
    assert [r.name for r in third.to_render] == ["s1#3"]


@pytest.mark.parametrize("option", ["--only", "--force", "--resubmit"])
def test_an_unknown_id_is_an_error_listing_the_known_ones(project, option):
    path = storyboard(project, FIVE)
    result = cli("render", str(path), option, "s9", "--yes", "--no-cut", "--cache-dir", str(project.root / ".c"))
    assert result.exit_code == 1
    assert f"{option}: 's9' names no shot of spot.yaml (known: s0, s1, s2, s3, s4" in result.output
    assert provider(project).get("submissions", 0) == 0


def test_takes_are_each_their_own_job_priced_and_shown(project):
    path = project.write("""
        reelmake: 1
        title: Takes
        defaults: {backend: wavespeed, duration: 5}
        shots:
          - {id: skyline, prompt: a city at dawn}
          - {id: lace-up, prompt: a runner laces up, sound: true, takes: 3}
    """)
    result = plan(path, cache_dir=project.root / ".c")
    laces = [r for r in result.rows if r.id.shot == "lace-up"]
    assert [r.name for r in laces] == ["lace-up", "lace-up#2", "lace-up#3"] and len({r.key for r in laces}) == 3
    assert {dict(r.job.request)["prompt"] for r in laces} == {laces[0].job.request["prompt"]}  # request unchanged
    assert dict(laces[1].job.request) == dict(laces[0].job.request)
    assert result.render_cost == Decimal("0.420") + 3 * Decimal("0.560")
    text = cli("plan", str(path), "--cache-dir", str(project.root / ".c")).output
    assert "+ lace-up ×3" in text and "$1.68  new" in text
    rows = json.loads(cli("plan", str(path), "--json", "--cache-dir", str(project.root / ".c")).stdout)["shots"]
    assert [(r["id"], r["take"], r["takes"]) for r in rows] == [("skyline", 1, 1), ("lace-up", 1, 3),
                                                                ("lace-up#2", 2, 3), ("lace-up#3", 3, 3)]


def test_a_local_model_gets_a_distinct_seed_per_take_and_take_one_keeps_the_shot_seed(project):
    text = """
        reelmake: 1
        title: Wan
        defaults: {backend: local, duration: 2, takes: 3}
        shots:
          - {id: a, prompt: a city at dawn, seed: 7}
          - {id: b, prompt: a runner}
    """
    path = project.write(text)
    sb, problems = parse(path.read_text(), path, filename="spot.yaml", root=project.root)
    assert sb is not None, problems
    seeds = {str(j.id): j.request["seed"] for j in jobs_of(sb)}
    assert [seeds["a"], seeds["a#2"], seeds["a#3"]] == [7, 8, 9]
    assert len({seeds["b"], seeds["b#2"], seeds["b#3"]}) == 3


def test_take_renders_n_more_takes_of_a_shot_as_it_stands(project):
    path = storyboard(project, FIVE)
    run(path)
    result = cli("take", str(path), "s2", "-n", "2", "--yes", "--no-cut", "--json",
                 "--cache-dir", str(project.root / ".reelmake"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["takes"] == {"s2": [2, 3]}
    assert provider(project)["submissions"] == 7
    assert sorted(k for k in lock_of(path)["renders"]["counting"] if k.startswith("s2")) == ["s2", "s2#2", "s2#3"]


def test_a_changed_request_starts_a_new_set_of_takes_and_keeps_the_old_ones_in_history(project):
    path = storyboard(project, '  - {id: a, prompt: "@maya one", takes: 2}')
    run(path)
    old = lock_of(path)["renders"]["counting"]
    path.write_text(path.read_text().replace("@maya one", "@maya uno").replace("takes: 2", "takes: 1"))
    result = plan(path, cache_dir=project.root / ".reelmake")
    assert [(r.name, r.status, r.changed) for r in result.rows] == [("a", "changed", ("prompt",))]
    run(path)
    lock = lock_of(path)
    assert list(lock["renders"]["counting"]) == ["a"]
    history = lock["history"]["counting"]
    assert [e["key"] for e in history["a"]] == [old["a"]["key"]] and history["a#2"][0]["key"] == old["a#2"]["key"]
    assert all("superseded_at" in e for entries in history.values() for e in entries)


def test_project_take_extends_current_jobs_only_with_takes_of_the_request_as_it_stands(project):
    path = storyboard(project, '  - {id: a, prompt: "@maya one"}')
    run(path, force=["a"])
    assert [str(j.id) for j in Project.open(path, cache_dir=project.root / ".reelmake").current_jobs()[""]] == \
        ["a", "a#2"]
    path.write_text(path.read_text().replace("@maya one", "@maya uno"))
    assert [str(j.id) for j in Project.open(path, cache_dir=project.root / ".reelmake").current_jobs()[""]] == ["a"]
