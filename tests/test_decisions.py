"""The lock's format 2 and the decisions in it (issues 13 and 14): approvals in the lock, never rewritten by
a render; cuts from approved takes; previews beside finals; format 1 read; gc of old history."""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.engine.lock import LockFile
from reelmake.engine.api import gc, plan, render
from reelmake.engine.project import Project
from reelmake.errors import StoryboardError
from tests.engine_backend import install
from tests.test_campaign import make
from tests.test_engine import FIVE, run, storyboard


@pytest.fixture(autouse=True)
def counting_backend():
    install()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def decisions(path) -> dict:
    return yaml.safe_load(path.with_suffix(".lock").read_text()).get("decisions", {})


def test_approve_and_reject_write_decisions_apart_from_renders(project, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(project.root / "no-gitconfig"))
    monkeypatch.setenv("USER", "robin")
    path = storyboard(project, '  - {id: a, prompt: "@maya one", takes: 3}')
    run(path)
    cache = str(project.root / ".reelmake")
    assert cli("reject", str(path), "a", "--take", "1", "--note", "soft focus", "--cache-dir", cache).exit_code == 0
    result = cli("approve", str(path), "a", "--take", "2", "--note", "the one", "--cache-dir", cache)
    assert result.exit_code == 0 and "a: take 2 approved" in result.output
    lock = yaml.safe_load(path.with_suffix(".lock").read_text())
    decision = lock["decisions"]["a"]
    assert (decision["approved"], decision["by"], decision["note"]) == (2, "robin", "the one")
    assert decision["key"] == lock["renders"]["counting"]["a#2"]["key"]
    assert [(r["take"], r["note"], r["by"]) for r in decision["rejected"]] == [(1, "soft focus", "robin")]
    status = cli("status", str(path), "--cache-dir", cache).output
    assert "a  approved take 2 by robin" in status and '— "the one"' in status
    assert 'rejected take 1 ("soft focus")' in status
    data = json.loads(cli("status", str(path), "--json", "--cache-dir", cache).stdout)
    assert data["decisions"]["a"]["approved"] == 2 and data["decisions"]["a"]["superseded"] is False
    # Rejecting the approved take withdraws the approval.
    cli("reject", str(path), "a", "--take", "2", "--cache-dir", cache)
    assert "approved" not in decisions(path)["a"] and len(decisions(path)["a"]["rejected"]) == 2


@pytest.mark.parametrize("args, message", [
    (["a", "--take", "4"], "a has no rendered take 4 (rendered takes: 1)"),
    (["zz"], "'zz' names no shot of spot.yaml (known: a)"),
    (["a#2"], "name a shot"),
])
def test_a_decision_on_a_take_that_does_not_exist_is_refused(project, args, message):
    path = storyboard(project, '  - {id: a, prompt: "@maya one"}')
    run(path)
    result = cli("approve", str(path), *args, "--cache-dir", str(project.root / ".reelmake"))
    assert result.exit_code == 1 and message in result.output
    assert decisions(path) == {}


def test_a_render_never_rewrites_decisions_and_a_decision_during_a_render_is_kept(project):
    path = storyboard(project, FIVE, latency=1.0)
    run(path)
    Project.open(path, cache_dir=project.root / ".reelmake").approve("s0", 1, "keep")
    before = decisions(path)
    done = threading.Event()

    def forced() -> None:
        run(path, force=["s1", "s2"])
        done.set()

    worker = threading.Thread(target=forced)
    worker.start()
    time.sleep(0.3)  # the render is waiting on its provider now
    Project.open(path, cache_dir=project.root / ".reelmake").approve("s3", 1, "during")
    worker.join(30)
    assert done.is_set()
    after = yaml.safe_load(path.with_suffix(".lock").read_text())
    assert after["decisions"]["s0"] == before["s0"] and after["decisions"]["s3"]["note"] == "during"
    assert {"s1#2", "s2#2"} <= set(after["renders"]["counting"])


def test_an_approval_survives_a_caption_edit_and_is_superseded_by_a_prompt_edit(project):
    path = storyboard(project, '  - {id: a, prompt: "@maya one", takes: 2}\n  - {id: b, prompt: "@maya two"}')
    run(path)
    cache = project.root / ".reelmake"
    Project.open(path, cache_dir=cache).approve("a", 1)
    path.write_text(path.read_text().replace('takes: 2}', 'takes: 2, caption: "Hello"}'))
    assert "superseded" not in cli("plan", str(path), "--cache-dir", str(cache)).output
    assert Project.open(path, cache_dir=cache).takes()[0].approval.approved == 1
    path.write_text(path.read_text().replace("@maya one", "@maya uno"))
    text = cli("plan", str(path), "--cache-dir", str(cache)).output
    assert "~ a ×2" in text and "changed: prompt — approved take 1 will be superseded" in text
    rows = json.loads(cli("plan", str(path), "--json", "--cache-dir", str(cache)).stdout)["shots"]
    assert [r["supersedes_approved"] for r in rows] == [1, None, None]
    run(path)
    found = Project.open(path, cache_dir=cache).takes()[0].approval
    assert found.take == 1 and found.superseded and found.approved is None
    assert "superseded: the shot changed since" in cli("status", str(path), "--cache-dir", str(cache)).output


ANIMATIC = """
reelmake: 1
title: Cut from takes
defaults: {backend: animatic, duration: 1}
shots:
  - {id: one, prompt: a city at dawn, takes: 2}
  - {id: two, prompt: a runner laces up}
deliverables:
  - {name: master, size: 320x180, fps: 12}
"""


def shots_in(report) -> list[tuple[str, int | None, str]]:
    return [(s["shot_id"], s["take"], s["status"]) for s in json.loads(report.read_text())["shots"]]


@pytest.mark.slow
def test_the_cut_uses_the_approved_take_else_the_newest_and_approved_only_slates_the_rest(project):
    path = project.write(ANIMATIC)
    kwargs = {"cache_dir": project.root / ".reelmake", "out": project.root / "out"}
    first = render(path, **kwargs)
    assert first.ok, first.to_json()
    report = project.root / "out" / "master.json"
    assert shots_in(report) == [("one", 2, "rendered"), ("two", 1, "rendered")]  # the newest take
    master = (project.root / "out" / "master.mp4").read_bytes()
    project_ = Project.open(path, cache_dir=kwargs["cache_dir"])
    project_.approve("one", 1)
    project_.cut(out=kwargs["out"])
    assert shots_in(report) == [("one", 1, "rendered"), ("two", 1, "rendered")]
    assert (project.root / "out" / "master.mp4").read_bytes() != master  # takes differ on screen (drawn take)
    result = cli("cut", str(path), "--approved-only", "--json", "--cache-dir", str(kwargs["cache_dir"]),
                 "--out", str(kwargs["out"]))
    assert result.exit_code == 0, result.output
    assert shots_in(report) == [("one", 1, "rendered"), ("two", None, "slate:unapproved")]


PREVIEW = """
reelmake: 1
title: Final and preview
defaults: {backend: counting, duration: 1}
shots:
  - {id: a, prompt: a city at dawn}
  - {id: b, prompt: a runner}
backends:
  counting: {state: "STATE"}
"""


def test_a_preview_after_a_final_changes_no_line_of_the_finals_entries(project):
    path = project.write(PREVIEW.replace("STATE", str(project.root / "provider.json")))
    kwargs = {"cache_dir": project.root / ".reelmake", "cut": False, "yes": True}
    render(path, **kwargs)
    final = yaml.safe_load(path.with_suffix(".lock").read_text())["renders"]["counting"]
    final_lines = [line for line in path.with_suffix(".lock").read_text().splitlines()]
    render(path, backend="animatic", **kwargs)
    lock = yaml.safe_load(path.with_suffix(".lock").read_text())
    assert lock["renders"]["counting"] == final and set(lock["renders"]["animatic"]) == {"a", "b"}
    after = path.with_suffix(".lock").read_text().splitlines()
    assert all(line in after for line in final_lines)  # only lines added, none of the final's changed
    assert {r.status for r in plan(path, cache_dir=kwargs["cache_dir"]).rows} == {"cached"}  # the final: untouched
    assert plan(path, cache_dir=kwargs["cache_dir"], backend="animatic").removed == []


def test_a_format_1_lock_is_read_and_written_as_format_2_by_the_next_change(project):
    path = storyboard(project, FIVE)
    run(path)
    renders = yaml.safe_load(path.with_suffix(".lock").read_text())["renders"]["counting"]
    old = {"reelmake": 1, "shots": {k: v for k, v in renders.items() if k != "s4"}}
    path.with_suffix(".lock").write_text("# reelmake lock\n" + yaml.safe_dump(old))
    result = plan(path, cache_dir=project.root / ".reelmake")
    assert {r.name: r.status for r in result.rows}["s0"] == "cached"
    run(path)
    lock = yaml.safe_load(path.with_suffix(".lock").read_text())
    assert lock["reelmake"] == 2 and set(lock["renders"]["counting"]) == {f"s{i}" for i in range(5)}


def test_a_lock_from_a_newer_reelmake_is_refused(project):
    path = project.root / "spot.lock"
    path.write_text("reelmake: 3\nrenders: {}\n")
    with pytest.raises(StoryboardError, match="lock format 3 is newer than this reelmake reads"):
        LockFile.read(path)


def test_gc_drops_history_older_than_the_grace_period_and_then_its_clips(project):
    path = storyboard(project, '  - {id: a, prompt: "@maya one"}')
    run(path)
    first_key = yaml.safe_load(path.with_suffix(".lock").read_text())["renders"]["counting"]["a"]["key"]
    path.write_text(path.read_text().replace("@maya one", "@maya uno"))
    run(path)
    cache = project.root / ".reelmake"
    kept = gc(project.root, cache_dir=cache, grace=3600)
    assert kept.removed == [] and "history" in yaml.safe_load(path.with_suffix(".lock").read_text())
    time.sleep(1.1)  # the lock's times are to the second
    report = gc(project.root, cache_dir=cache, grace=0)
    assert any(first_key in item for item, _ in report.removed) and report.history_entries == 1
    assert "history" not in yaml.safe_load(path.with_suffix(".lock").read_text())


CAMPAIGN = """\
reelmake: 1
campaign: tiny
template: spot.yaml.j2
variants:
  name: "{{ market }}"
  matrix: {market: [us, de]}
"""

TEMPLATE = """\
reelmake: 1
title: Spot {{ market }}
defaults: {backend: counting, duration: 1}
shots:
  - {id: hero, prompt: A runner on a rooftop at dawn, takes: 2}
  - {id: street, prompt: {{ ("A street in " ~ market) | yaml }}}
backends:
  counting: {state: "STATE"}
"""


def test_a_shot_shared_by_variants_is_approved_once_for_all_of_them(project):
    path = make(project.root / "c", CAMPAIGN, TEMPLATE.replace("STATE", str(project.root / "provider.json")))
    render(path, cache_dir=project.root / ".reelmake", cut=False, yes=True)
    campaign = Project.open(path, cache_dir=project.root / ".reelmake")
    assert campaign.approve("hero", 1) == ("hero", 1)
    assert {(t.variant, t.shot): t.approval.approved for t in campaign.takes() if t.approval} == \
        {("us", "hero"): 1, ("de", "hero"): 1}
    assert list(decisions(path)) == ["hero"]
    with pytest.raises(StoryboardError, match="is not the same clip in every variant"):
        campaign.approve("street", 1)
    campaign.approve("us/street", 1)
    assert {(t.variant, t.shot) for t in campaign.takes() if t.approval} == {("us", "hero"), ("de", "hero"),
                                                                             ("us", "street")}
