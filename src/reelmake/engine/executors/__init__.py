"""Where local renders and cuts run: in this process (the default) or on a Ray cluster.

The driver (this process) always keeps the money and the state: it plans, journals, takes the render
keys' locks, charges the budget, submits to paid APIs from its own event loop, stores clips and writes
the lock file. An executor only takes work that costs nothing and writes no state:

- shots of local backends (``plugin.remote`` is False: the animatic, the local Wan model), through
  :meth:`Executor.local_backend`, a stand-in for the backend that renders elsewhere and hands the
  clip back to the orchestrator as the in-process backend would;
- cuts, one per deliverable of each variant, through :meth:`Executor.cut`.

In-process is ``None``: the orchestrator and :meth:`Project.cut` do what they always did.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...errors import BackendUnavailable, StoryboardError
from ..config import read_config
from ..cutting import CutResult, CutTask

log = logging.getLogger("reelmake.executors")

IN_PROCESS, RAY = "in-process", "ray"
EXECUTORS = (IN_PROCESS, RAY)


@dataclass(frozen=True)
class ExecutorChoice:
    """Which executor a command uses, and for Ray which cluster (None: ``RAY_ADDRESS``, else a new
    local instance; ``auto``: the cluster already running on this machine)."""

    name: str = IN_PROCESS
    address: str | None = None


def choose_executor(name: str | None, address: str | None, root: Path) -> ExecutorChoice:
    """The command line's ``--executor``/``--address``, else the project's ``reelmake.toml``
    (``executor``, ``[ray] address``), else in-process."""
    config = read_config(root)
    chosen = name or config.get("executor", IN_PROCESS)
    if chosen not in EXECUTORS:
        raise StoryboardError(f"executor {chosen!r} is not one of {', '.join(EXECUTORS)} (reelmake.toml's "
                              "executor or --executor)")
    if address and chosen != RAY:
        raise StoryboardError(f"--address {address} names a Ray cluster; add --executor ray (or set executor = "
                              "\"ray\" in reelmake.toml)")
    if chosen == RAY:
        address = address or config.get("ray.address")
    return ExecutorChoice(chosen, address or None)


class Executor(Protocol):
    """What the orchestrator and :meth:`Project.cut` need from an executor other than this process."""

    def local_backend(self, name: str, settings: Mapping[str, Any]) -> Any:
        """A LocalBackend (preflight, run, aclose) that renders backend ``name``'s shots on the
        executor's workers; ``slots`` says how many shots it runs at once (after preflight)."""

    def cut(self, tasks: list[CutTask]) -> list[CutResult]:
        """Cut every task, in any order, on the workers; one result per task, in the tasks' order."""

    def close(self) -> None:
        """Release the workers and the connection."""


Note = Callable[[str], None]


@contextmanager
def open_executor(choice: ExecutorChoice, *, jobs: int | None = None,
                  on_note: Note | None = None) -> Iterator[Executor | None]:
    """The executor for ``choice`` for the length of a command (None for in-process). ``jobs`` caps
    the workers each local backend gets; ``on_note`` hears what the executor decided (how many
    workers, and why), for the user."""
    if choice.name == IN_PROCESS:
        yield None
        return
    if importlib.util.find_spec("ray") is None:
        raise BackendUnavailable("--executor ray needs Ray here and on every node of the cluster: "
                                 "pip install 'reelmake[ray]'")
    from .ray_executor import RayExecutor

    executor = RayExecutor.connect(choice.address, jobs=jobs, on_note=on_note or log.info)
    try:
        yield executor
    finally:
        executor.close()


__all__ = ["EXECUTORS", "IN_PROCESS", "RAY", "Executor", "ExecutorChoice", "choose_executor", "open_executor"]
