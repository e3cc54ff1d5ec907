"""reelmake: version-controlled YAML storyboards → finished AI video.

The public API, everything the CLI does::

    import reelmake
    sb = reelmake.load("spot.yaml")                    # validate (raises ValidationError with every problem)
    plan = reelmake.plan("spot.yaml")                  # statuses, costs, budget verdict
    summary = reelmake.render("spot.yaml", options=reelmake.RenderOptions(max_cost=Decimal("5")))
    reelmake.cut("spot.yaml", partial=True)            # deliverables from whatever is rendered
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    BackendError,
    BackendUnavailable,
    BudgetExceeded,
    MediaError,
    Problem,
    ReelmakeError,
    StoryboardError,
    ValidationError,
)
from .render import RenderOptions
from .storyboard import load
from .workflow import Project, cut, plan, render, status

try:
    __version__ = version("reelmake")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"


def load_campaign(path, **kwargs):
    """Load and validate a campaign file (see :func:`reelmake.campaign.load_campaign`)."""
    from .campaign import load_campaign as _load_campaign

    return _load_campaign(path, **kwargs)


__all__ = [
    "BackendError",
    "BackendUnavailable",
    "BudgetExceeded",
    "MediaError",
    "Problem",
    "Project",
    "ReelmakeError",
    "RenderOptions",
    "StoryboardError",
    "ValidationError",
    "cut",
    "load",
    "load_campaign",
    "plan",
    "render",
    "status",
]
