"""CLI behaviour a user or CI relies on: help, schema, status, markdown plans, campaign wiring."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reelmake.cli import main
from reelmake.engine.project import Project
from tests.engine_backend import install

REPO = Path(__file__).resolve().parents[1]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_every_command_has_help():
    for command in ("validate", "plan", "render", "cut", "status", "expand", "schema"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_schema_prints_a_valid_draft_2020_12_schema_that_accepts_the_examples():
    import yaml

    schema = json.loads(invoke("schema").output)
    Draft202012Validator.check_schema(schema)
    for example in ("demo/demo.yaml", "aurora/aurora.yaml", "chain/chain.yaml"):
        data = yaml.safe_load((REPO / "storyboards" / example).read_text())
        assert list(Draft202012Validator(schema).iter_errors(data)) == []
    assert json.loads(invoke("schema", "--campaign").output)["$schema"].endswith("2020-12/schema")


def test_examples_start_with_the_schema_line():
    for path in (REPO / "storyboards").glob("*/*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../../schemas/"), path


def test_status_shows_in_flight_task_ids(project):
    install()
    path = project.write(f"""
        reelmake: 1
        title: Status
        defaults: {{backend: counting, duration: 2}}
        shots:
          - {{id: a, prompt: one}}
          - {{id: b, prompt: two}}
        backends:
          counting: {{state: "{project.root / 'provider.json'}"}}
    """)
    cache = project.root / ".reelmake"
    proj = Project.open(path, cache_dir=cache)
    proj.workspace.journal.record("intent", proj.jobs[""][0].key, job="a", backend="counting", model="counting-v1")
    proj.workspace.journal.record("submitted", proj.jobs[""][0].key, task_id="task-77", job="a")
    result = invoke("status", str(path), "--cache-dir", str(cache))
    assert result.exit_code == 0
    assert "a  in_flight  task task-77" in result.output and "b  pending" in result.output
    data = json.loads(invoke("status", str(path), "--cache-dir", str(cache), "--json").output)
    assert [(s["id"], s["state"], s["task_id"]) for s in data["shots"]] == [("a", "in_flight", "task-77"),
                                                                          ("b", "pending", None)]


def test_plan_markdown_for_a_pull_request(tmp_path):
    result = invoke("plan", str(REPO / "storyboards/aurora/aurora.yaml"), "--format", "markdown",
                    "--cache-dir", str(tmp_path))
    assert result.exit_code == 0
    assert "| `+` | leap | kling-video-o3-std | 6 s | video | $0.76 | new |" in result.output
    assert "Plan: 5 to render ($2.63)" in result.output


def test_campaign_files_work_with_plan_status_and_expand(tmp_path):
    campaign = str(REPO / "storyboards/campaign/campaign.yaml")
    plan = json.loads(invoke("plan", campaign, "--backend", "animatic", "--json", "--cache-dir", str(tmp_path)).output)
    assert plan["unique_renders"] < sum(len(v["shots"]) for v in plan["variants"])
    status = invoke("status", campaign, "--backend", "animatic", "--cache-dir", str(tmp_path))
    assert status.exit_code == 0 and "de-15/" in status.output
    assert "de-15" in invoke("expand", campaign).output
    assert invoke("expand", campaign, "--variant", "de-15").output.startswith("reelmake: 1")
