"""reelmake: version-controlled YAML storyboards → finished AI video.

The public API, everything the CLI does::

    import reelmake
    sb = reelmake.load("spot.yaml")                    # validate (raises ValidationError with every problem)
    plan = reelmake.plan("spot.yaml")                  # statuses, costs, budget verdict
    summary = reelmake.render("spot.yaml", options=reelmake.RenderOptions(max_cost=Decimal("5")))
    reelmake.cut("spot.yaml", partial=True)            # deliverables from whatever is rendered
"""

from __future__ import annotations

import importlib

# Imported on first use (PEP 562), so `import reelmake.<module>` stays cheap and the CLI starts fast.
_EXPORTS = {
    "BackendError": "errors", "BackendUnavailable": "errors", "BudgetExceeded": "errors", "MediaError": "errors",
    "Problem": "errors", "ReelmakeError": "errors", "StoryboardError": "errors", "ValidationError": "errors",
    "RenderOptions": "orchestrator", "load": "storyboard", "load_campaign": "campaign",
    "Project": "workflow", "cut": "workflow", "plan": "workflow", "render": "workflow", "status": "workflow",
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
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


__all__ = sorted(_EXPORTS)
