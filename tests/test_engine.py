"""The make-style engine (issue 3): what re-renders, sharing, crash safety, budgets, cache integrity."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.engine.outcomes import RenderOptions
from reelmake.engine.api import plan, render, status
from reelmake.engine.project import Project, RenderSummary
from tests.engine_backend import install, submissions

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def counting_backend():
    install()


def storyboard(project, shots: str, *, latency: float = 0.05, extra: str = "", settings: str = "",
               name: str = "spot.yaml") -> Path:
    state = project.root / "provider.json"
    return project.write(f"""
reelmake: 1
title: Engine test
defaults: {{backend: counting, duration: 2}}
characters:
  maya: {{images: [refs/a.png, refs/b.png]}}
assets:
  sneaker: {{image: refs/c.png}}
  theme: {{audio: audio/theme.wav}}
shots:
{shots}
backends:
  counting: {{state: "{state}", latency: {latency}{settings}}}
{extra}""", name)


FIVE = "\n".join(f'  - {{id: s{i}, prompt: "@maya shot {i}"}}' for i in range(5))


def provider(project) -> dict:
    return submissions(project.root / "provider.json")


def run(path, **kwargs):
    kwargs.setdefault("cut", False)
    kwargs.setdefault("yes", True)
    return render(path, cache_dir=path.parent / ".reelmake", **kwargs)


def statuses(path, **kwargs) -> dict[str, str]:
    return {r.name: r.status for r in plan(path, cache_dir=path.parent / ".reelmake", **kwargs).rows}


def test_a_rerun_with_nothing_changed_renders_nothing(project):
    path = storyboard(project, FIVE)
    first = run(path)
    assert sorted(first.result.ids("rendered")) == [f"s{i}" for i in range(5)]
    lock_before = (project.root / "spot.lock").read_text()
    second = run(path)
    assert second.result.outcomes == [] and provider(project)["submissions"] == 5
    assert (project.root / "spot.lock").read_text() == lock_before  # no churn, not even timestamps


@pytest.mark.parametrize("edit, rerendered, reason", [
    (lambda t: t.replace("@maya shot 1", "@maya shot one"), {"s1"}, "prompt"),
    (lambda t: t.replace('id: s2, prompt: "@maya shot 2"', 'id: s2, prompt: "@maya shot 2", duration: 3'), {"s2"},
     "duration"),
    (lambda t: t.replace('id: s3, prompt: "@maya shot 3"', 'id: s3, prompt: "@maya shot 3", sound: true'), {"s3"},
     "sound"),
    (lambda t: t.replace("refs/a.png, refs/b.png", "refs/a.png, refs/n0.png"), {f"s{i}" for i in range(5)},
     "reference maya changed"),
])
def test_pixel_affecting_edits_rerender_exactly_the_affected_shots(project, edit, rerendered, reason):
    path = storyboard(project, FIVE)
    run(path)
    path.write_text(edit(path.read_text()))
    result = plan(path, cache_dir=project.root / ".reelmake")
    changed = {r.name for r in result.rows if r.status == "changed"}
    assert changed == rerendered
    assert all(reason in r.changed for r in result.rows if r.status == "changed")


def test_a_changed_reference_file_rerenders_only_the_shots_using_it(project):
    path = storyboard(project, FIVE + '\n  - {id: prod, prompt: "@sneaker on a ledge"}')
    run(path)
    image = project.root / "refs" / "c.png"
    image.write_bytes(image.read_bytes() + b"\0")
    assert {k for k, v in statuses(path).items() if v != "cached"} == {"prod"}


@pytest.mark.parametrize("edit", [
    lambda t: t.replace('prompt: "@maya shot 1"}', 'prompt: "@maya shot 1", caption: "New line"}'),
    lambda t: t.replace('prompt: "@maya shot 1"}', 'prompt: "@maya shot 1", trim: [0.5, 1.5]}'),
    lambda t: t.replace('prompt: "@maya shot 1"}', 'prompt: "@maya shot 1", transition: {type: fade, duration: 0.5}}'),
    lambda t: t + "soundtrack: [{asset: theme, volume: -6}]\nmix: {loudness: -16}\n",
    lambda t: t + "deliverables: [{name: web, size: 640x360, fps: 30, reframe: pad}]\n",
])
def test_edit_time_changes_only_recut(project, edit):
    path = storyboard(project, FIVE)
    run(path)
    path.write_text(edit(path.read_text()))
    assert set(statuses(path).values()) == {"cached"}


def test_two_storyboards_sharing_a_shot_render_it_once(project):
    shared = '  - {id: hero, prompt: "@maya hero shot"}'
    first = storyboard(project, shared + '\n  - {id: a, prompt: "@maya a"}', name="first.yaml")
    second = storyboard(project, shared + '\n  - {id: b, prompt: "@maya b"}', name="second.yaml")
    run(first)
    assert statuses(second) == {"hero": "cached", "b": "new"}
    run(second)
    assert provider(project)["by_shot"] == {"hero": 1, "a": 1, "b": 1}


def test_identical_shots_in_one_storyboard_are_submitted_once(project):
    path = storyboard(project, '  - {id: x, prompt: "@maya same"}\n  - {id: y, prompt: "@maya same"}')
    result = run(path)
    assert provider(project)["submissions"] == 1
    assert sorted(result.result.ids("rendered")) == ["x", "y"]
    lock = (project.root / "spot.lock").read_text()
    assert "  x:" in lock and "  y:" in lock


def test_a_budget_that_fits_two_of_five_shots_submits_exactly_two(project):
    path = storyboard(project, FIVE)  # 2 s × 0.10 = 0.20 each
    result = run(path, options=RenderOptions(max_cost=Decimal("0.45"), jobs=1))
    assert provider(project)["submissions"] == 2
    assert len(result.result.ids("rendered")) == 2 and len(result.result.ids("skipped")) == 3
    assert result.result.spent == Decimal("0.40")


def test_the_storyboard_budget_is_a_hard_cap_too(project):
    path = storyboard(project, FIVE, extra="budget: 0.25\n")
    run(path)
    assert provider(project)["submissions"] == 1


def test_a_failing_shot_does_not_stop_the_others(project):
    path = storyboard(project, FIVE, settings=", fail_task: [s2]")
    result = run(path)
    assert sorted(result.result.ids("rendered")) == ["s0", "s1", "s3", "s4"]
    assert result.result.ids("failed") == ["s2"]
    assert not result.ok


def test_a_truncated_paid_clip_is_downloaded_again_from_its_task_not_paid_again(project):
    path = storyboard(project, FIVE)
    run(path)
    proj = Project.open(path, cache_dir=project.root / ".reelmake")
    clip = proj.workspace.clips.clip_path(proj.jobs[""][1].key)
    clip.write_bytes(clip.read_bytes()[:100])
    assert statuses(path)["s1"] == "new"
    again = run(path)
    assert again.result.ids("rendered") == ["s1"] and provider(project)["by_shot"]["s1"] == 1
    assert statuses(path)["s1"] == "cached"


def test_a_damaged_clip_whose_task_is_gone_is_rendered_again(project):
    path = storyboard(project, FIVE, settings=", forget_tasks: true")
    run(path)
    proj = Project.open(path, cache_dir=project.root / ".reelmake")
    clip = proj.workspace.clips.clip_path(proj.jobs[""][1].key)
    clip.write_bytes(clip.read_bytes()[:100])
    run(path)
    assert provider(project)["by_shot"]["s1"] == 2 and statuses(path)["s1"] == "cached"


def test_altered_clips_fail_the_hash_check_and_are_never_cut(project):
    path = storyboard(project, FIVE)
    run(path)
    proj = Project.open(path, cache_dir=project.root / ".reelmake")
    clip = proj.workspace.clips.clip_path(proj.jobs[""][0].key)
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    clip.write_bytes(bytes(data))
    assert proj.workspace.clips.get(proj.jobs[""][0].key) is not None  # the size check cannot see it
    assert statuses(path)["s0"] == "new"  # the plan's check (by hash, remembered by file stamp) does
    assert proj.workspace.clips.get(proj.jobs[""][0].key, verify=True) is None


def test_an_ambiguous_submit_is_reconciled_not_resubmitted(project):
    path = storyboard(project, FIVE, settings=", lose_submit_answer: [s1]")
    result = run(path)
    assert provider(project)["by_shot"]["s1"] == 1
    # Reconciled at once through the provider history: the task is found and resumed.
    assert "s1" in result.result.ids("rendered")


def test_an_unreconcilable_submit_waits_for_resubmit(project):
    path = storyboard(project, '  - {id: s0, prompt: "@maya zero"}')
    proj = Project.open(path, cache_dir=project.root / ".reelmake")
    proj.workspace.journal.record("intent", proj.jobs[""][0].key, job="s0", backend="counting", model="counting-v1")
    result = run(path)
    assert result.result.ids("ambiguous") == ["s0"] and provider(project)["submissions"] == 0
    assert "--resubmit s0" in result.result.outcomes[0].error
    assert [s.state for s in status(path, cache_dir=project.root / ".reelmake")] == ["ambiguous"]
    result = run(path, options=RenderOptions(resubmit=frozenset({"s0"})))
    assert result.result.ids("rendered") == ["s0"] and provider(project)["submissions"] == 1


def test_plan_check_exit_codes(project):
    path = storyboard(project, FIVE)
    cache = ["--cache-dir", str(project.root / ".reelmake")]
    assert CliRunner().invoke(main, ["plan", "--check", str(path), *cache]).exit_code == 2
    run(path)
    assert CliRunner().invoke(main, ["plan", "--check", str(path), *cache]).exit_code == 0


def test_plan_json_has_the_specs_fields(project):
    path = storyboard(project, FIVE, extra="budget: 5\n")
    run(path)
    path.write_text(path.read_text().replace("@maya shot 1", "@maya shot one"))
    result = CliRunner().invoke(main, ["plan", "--json", str(path), "--cache-dir", str(project.root / ".reelmake")])
    data = json.loads(result.stdout)
    assert {"storyboard", "shots", "render_cost", "total_cost", "budget"} <= set(data)
    row = next(s for s in data["shots"] if s["id"] == "s1")
    assert {"id", "backend", "model", "duration", "mode", "cost", "status", "changed", "key"} <= set(row)
    assert (row["status"], row["changed"], row["cost"]) == ("changed", ["prompt"], "0.200")
    assert (data["render_cost"], data["total_cost"], data["budget"]) == ("0.200", "1.000", "5.000")


def test_a_paid_render_without_yes_or_cap_refuses_without_a_terminal(project):
    path = storyboard(project, FIVE)
    result = CliRunner().invoke(main, ["render", str(path), "--no-cut", "--cache-dir", str(project.root / ".c")])
    assert result.exit_code == 1 and "--yes or --max-cost" in result.output
    assert provider(project)["submissions"] == 0


def test_render_json_summary(project):
    path = storyboard(project, FIVE, settings=", fail_task: [s4]")
    result = CliRunner().invoke(main, ["render", str(path), "--no-cut", "--yes", "--json",
                                       "--cache-dir", str(project.root / ".c")])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert sorted(data["rendered"]) == ["s0", "s1", "s2", "s3"] and data["failed"][0]["id"] == "s4"
    assert data["spent"] == "0.800"


def test_sigkill_mid_run_then_rerun_completes_without_paying_twice(project):
    shots = "\n".join(f'  - {{id: k{i}, prompt: "@maya kill {i}"}}' for i in range(6))
    path = storyboard(project, shots, latency=1.5)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.engine_cli", "render", str(path), "--yes", "--no-cut", "--jobs", "3",
               "--cache-dir", str(project.root / ".reelmake")]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while provider(project).get("submissions", 0) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = provider(project)["submissions"]
    assert 2 <= killed_at < 6
    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    state = provider(project)
    assert state["submissions"] == 6 and set(state["by_shot"].values()) == {1}
    assert set(statuses(path).values()) == {"cached"}


def test_losing_contact_while_waiting_keeps_the_task_for_the_next_run(project):
    path = storyboard(project, '  - {id: s0, prompt: "@maya zero"}', settings=", lose_contact: [s0]")
    first = run(path)
    assert first.result.ids("failed") == ["s0"] and "will be resumed" in first.result.outcomes[0].error
    assert [s.state for s in status(path, cache_dir=project.root / ".reelmake")] == ["in_flight"]
    assert statuses(path) == {"s0": "in_flight"}
    path.write_text(path.read_text().replace(", lose_contact: [s0]", ""))
    # Changing backend settings does not change the render key, so the same task is resumed.
    second = run(path)
    assert second.result.ids("rendered") == ["s0"] and provider(project)["submissions"] == 1


def _cli(path, project, *extra):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.engine_cli", "render", str(path), "--yes", "--no-cut",
               "--cache-dir", str(project.root / ".reelmake"), *extra]
    return command, env


def test_ctrl_c_keeps_submitted_tasks_exits_130_and_the_next_run_resumes(project):
    shots = "\n".join(f'  - {{id: c{i}, prompt: "@maya interrupt {i}"}}' for i in range(6))
    path = storyboard(project, shots, latency=2.0)
    command, env = _cli(path, project, "--jobs", "2")
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while provider(project).get("submissions", 0) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "resume" in stderr
    submitted = provider(project)["submissions"]
    assert submitted == 2  # no new submissions after Ctrl-C
    in_flight = [s for s in status(path, cache_dir=project.root / ".reelmake") if s.state == "in_flight"]
    assert len(in_flight) == 2 and all(s.task_id for s in in_flight)
    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert provider(project)["submissions"] == 6 and set(provider(project)["by_shot"].values()) == {1}


def test_two_processes_sharing_a_cache_render_each_shot_once(project):
    shots = "\n".join(f'  - {{id: p{i}, prompt: "@maya parallel {i}"}}' for i in range(6))
    path = storyboard(project, shots, latency=0.5)
    command, env = _cli(path, project, "--jobs", "3")
    procs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert provider(project)["submissions"] == 6 and set(provider(project)["by_shot"].values()) == {1}


def test_a_run_that_gives_up_and_a_concurrent_run_pay_once_per_shot(project):
    # The first run submits a wave, then gives up (--timeout) while its tasks still run; the second
    # run, started at the same time, must resume those tasks, never submit them again.
    shots = "\n".join(f'  - {{id: t{i}, prompt: "@maya race {i}"}}' for i in range(6))
    path = storyboard(project, shots, latency=1.5)
    impatient, env = _cli(path, project, "--jobs", "3", "--timeout", "0.3")
    patient, _ = _cli(path, project, "--jobs", "3")
    first = subprocess.Popen(impatient, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while provider(project).get("submissions", 0) < 1 and time.time() < deadline:
        time.sleep(0.02)
    second = subprocess.Popen(patient, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first.wait(timeout=120)
    assert second.wait(timeout=120) == 0, second.stderr.read()
    state = provider(project)
    assert state["submissions"] == 6 and set(state["by_shot"].values()) == {1}


def test_a_run_killed_while_another_waits_for_its_shots_pays_once_per_shot(project):
    shots = "\n".join(f'  - {{id: w{i}, prompt: "@maya wait {i}"}}' for i in range(4))
    path = storyboard(project, shots, latency=1.5)
    command, env = _cli(path, project, "--jobs", "4")
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while provider(project).get("submissions", 0) < 4 and time.time() < deadline:
        time.sleep(0.02)
    second = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)  # the second run now waits on the first one's key locks
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert second.wait(timeout=120) == 0, second.stderr.read()
    state = provider(project)
    assert state["submissions"] == 4 and set(state["by_shot"].values()) == {1}
    assert set(statuses(path).values()) == {"cached"}


def test_a_storyboard_budget_holds_across_concurrent_runs(project):
    # Each shot costs $0.20; two runs render different shots at once under one `budget: 0.76`: alone each
    # would fit three shots, together they may submit three at most.
    shots = "\n".join(f'  - {{id: b{i}, prompt: "@maya budget {i}"}}' for i in range(6))
    path = storyboard(project, shots, latency=1.0, extra="budget: 0.76")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = []
    for only in ("b0,b1,b2", "b3,b4,b5"):
        command, env = _cli(path, project, "--only", only, "--jobs", "3")
        runs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for proc in runs:
        proc.wait(timeout=120)
    assert provider(project)["submissions"] == 3  # $0.60 of $0.76; a fourth shot would make $0.80


@pytest.mark.parametrize("ahead", [True, False])
def test_cutting_behind_the_renders_leaves_the_cut_only_the_join_and_the_audio(project, ahead):
    shots = "\n".join(f'  - {{id: s{i}, prompt: "@maya shot {i}", duration: {2 + i}}}' for i in range(3))
    path = storyboard(project, shots, extra="deliverables: [{name: web, size: 160x90, fps: 24, reframe: pad}]\n")
    the_project = Project.open(path, cache_dir=project.root / ".reelmake")
    the_plan = the_project.plan()
    result = asyncio.run(the_project.render_async(the_plan, RenderOptions(), yes=True, cut_ahead=ahead))
    pieces = the_project.workspace.edit_dir / "clips"
    made_ahead = sorted(pieces.glob("*.mov")) if pieces.is_dir() else []
    assert len(made_ahead) == (3 if ahead else 0)  # ultrafast clips are Constrained Baseline: each is encoded
    the_project.cut(summary=RenderSummary(the_plan, result))
    # Pieces are named by content: with every piece made as its clip landed, the cut encoded none.
    after = sorted(pieces.glob("*.mov"))
    assert len(after) == 3 and (after == made_ahead or not ahead)
