"""reelmake: version-controlled YAML storyboards → finished AI video.

The public API, everything the CLI does, for a storyboard or a campaign alike::

    import reelmake
    campaign = reelmake.load("spot.yaml")             # validate (ValidationError lists every problem)
    plan = reelmake.plan("spot.yaml")                  # statuses, costs, budget verdict
    summary = reelmake.render("spot.yaml", options=reelmake.RenderOptions(max_cost=Decimal("5")))
    reelmake.cut("campaign.yaml", partial=True)        # deliverables from whatever is rendered
    reelmake.status("spot.yaml"); reelmake.gc(".", dry_run=True)

A storyboard loads as a :class:`Campaign` of one variant (``campaign.storyboard``); every result type
below is a plain dataclass with ``to_json()`` where the CLI prints JSON.
"""

from __future__ import annotations

import importlib

# Imported on first use (PEP 562), so `import reelmake` stays cheap and the CLI starts fast. The
# implementation lives in private-by-convention modules; tests/test_architecture.py pins this list.
_EXPORTS = {
    # operations
    "load": "engine.api", "plan": "engine.api", "render": "engine.api", "cut": "engine.api",
    "status": "engine.api", "gc": "engine.api", "Project": "engine.project",
    # results and options
    "Campaign": "core.model", "Variant": "core.model", "Storyboard": "core.model", "Plan": "core.plan",
    "PlanRow": "core.plan", "RenderSummary": "engine.summary", "Cuts": "engine.summary",
    "ShotStatus": "engine.summary", "RenderOptions": "engine.outcomes", "RunResult": "engine.outcomes",
    "Outcome": "engine.outcomes", "GcReport": "engine.workspace", "JobId": "jobs",
    # errors
    "ReelmakeError": "errors", "StoryboardError": "errors", "ValidationError": "errors", "Problem": "errors",
    "BudgetExceeded": "errors", "MediaError": "errors", "BackendUnavailable": "errors", "BackendError": "errors",
}


def __getattr__(name: str):
    if name == "__version__":  # importlib.metadata costs ~50 ms: only when asked
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("reelmake")
        except PackageNotFoundError:  # a source tree without an install
            return "0.0.0"
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reelmake' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # a submodule imported later cannot shadow what was exported
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
