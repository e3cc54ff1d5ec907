"""The shape of the code: the public API is pinned, layers are kept, nothing imports in a circle, and the
library does what the CLI does for storyboards and campaigns alike."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import reelmake

REPO = Path(__file__).resolve().parents[1]
CAMPAIGN = REPO / "storyboards" / "campaign" / "campaign.yaml"

# The public surface (httpx's tests/test_exported_members.py is the model): changing it is a decision.
EXPORTED = [
    "BackendError", "BackendUnavailable", "BudgetExceeded", "Campaign", "Cuts", "GcReport", "JobId", "MediaError",
    "Outcome", "Plan", "PlanRow", "Problem", "Project", "ReelmakeError", "RenderOptions", "RenderSummary",
    "RunResult", "ShotStatus", "Storyboard", "StoryboardError", "ValidationError", "Variant", "cut", "gc", "load",
    "plan", "render", "status",
]


def test_the_exported_names_are_exactly_the_public_api():
    assert sorted(reelmake.__all__) == sorted(EXPORTED)
    for name in EXPORTED:
        assert getattr(reelmake, name) is not None
        assert reelmake.__dict__.get(name, getattr(reelmake, name)).__module__.startswith("reelmake.")


def test_no_submodule_is_named_like_an_exported_function():
    # `import reelmake.plan` once replaced the function reelmake.plan with a module.
    for name in EXPORTED:
        assert importlib.util.find_spec(f"reelmake.{name}") is None, name


def test_calling_plan_twice_in_one_process_works(tmp_path):
    first = reelmake.plan(CAMPAIGN, cache_dir=tmp_path)
    second = reelmake.plan(CAMPAIGN, cache_dir=tmp_path)
    assert first.render_cost == second.render_cost and callable(reelmake.plan)


def test_the_library_plans_and_reports_status_of_a_campaign(tmp_path):
    plan = reelmake.plan(CAMPAIGN, cache_dir=tmp_path)
    assert plan.campaign.is_campaign and len(plan.variants) == 6 and plan.to_json()["campaign"] == "aurora-q3"
    rows = reelmake.status(CAMPAIGN, cache_dir=tmp_path)
    assert {r.state for r in rows} == {"pending"} and all("/" in r.id for r in rows)
    assert reelmake.load(CAMPAIGN).variant("de-15").storyboard.shots


def test_the_import_layers_hold():
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    proc = subprocess.run([*command, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_module_imports_itself_in_a_circle():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("reelmake", exclude_type_checking_imports=True)  # type hints are not imports
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in graph.modules:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []
