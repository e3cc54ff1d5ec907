"""Which ``external_task_id`` a job's next Kling submit carries, kept in the backend's workspace folder.

Kling refuses a second task with an ``external_task_id`` already used in the account, so the id is
reused until a task is known to exist (a submit returned its id, or a lookup found it) and only then
does the next attempt get a new one: a submit that may or may not have reached Kling, sent again with
the same id, can never create a second task. The id names the render key, the take and the attempt:
``rm-<first 32 hex of the key>-t<take>-a<attempt>``. One small JSON file per render key; the engine's
key lock means one process at a time writes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...fsutil import atomic_write_text
from ...jobs import RenderJob


def external_id(job: RenderJob, attempt: int) -> str:
    return f"rm-{job.key[:32]}-t{job.id.take}-a{attempt}"


class Attempts:
    """``<render key>.json`` holding ``{"attempt": n, "created": bool}``; in memory only without a folder."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, dict[str, Any]] = {}

    def _path(self, job: RenderJob) -> Path | None:
        return self.directory / f"{job.key}.json" if self.directory else None

    def _read(self, job: RenderJob) -> dict[str, Any] | None:
        if job.key in self._memory:
            return self._memory[job.key]
        path = self._path(job)
        if path is None or not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and isinstance(state.get("attempt"), int) else None

    def _write(self, job: RenderJob, state: dict[str, Any]) -> None:
        self._memory[job.key] = state
        path = self._path(job)
        if path is not None:
            atomic_write_text(path, json.dumps(state) + "\n")

    def next_id(self, job: RenderJob) -> str:
        """The id for a submit about to be sent, recorded before it is sent."""
        state = self._read(job)
        if state is None:
            state = {"attempt": 1, "created": False}
        elif state.get("created"):
            state = {"attempt": state["attempt"] + 1, "created": False}
        self._write(job, state)
        return external_id(job, state["attempt"])

    def current_id(self, job: RenderJob) -> str | None:
        """The id the last submit of ``job`` carried, None when it was never sent from here."""
        state = self._read(job)
        return external_id(job, state["attempt"]) if state else None

    def created(self, job: RenderJob) -> None:
        """A task with the current id exists: the next submit needs a new id."""
        state = self._read(job) or {"attempt": 1}
        self._write(job, {"attempt": state["attempt"], "created": True})
