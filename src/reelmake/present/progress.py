"""Live render progress: a table on a terminal, plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal

import click


class Progress:
    """Shot-by-shot progress: a live table on a terminal, plain lines otherwise (CI logs)."""

    def __init__(self, job_ids: Sequence[str], *, live: bool, quiet: bool = False) -> None:
        self.order = list(job_ids)
        self.state = {i: ("queued", "") for i in self.order}
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.spent = Decimal(0)
        self.quiet = quiet
        self._mutex = threading.Lock()
        self._live = None
        if live and not quiet and self.order:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4, transient=False)

    def __enter__(self) -> Progress:
        if self._live:
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self._live.update(self._table())
            self._live.__exit__(*exc)

    def __call__(self, job_id: str, state: str, detail: str) -> None:
        with self._mutex:
            if job_id not in self.state:
                self.order.append(job_id)
            if state not in ("queued",) and job_id not in self.started:
                self.started[job_id] = time.monotonic()
            if state in ("done", "failed", "cached", "skipped", "ambiguous", "blocked"):
                self.finished[job_id] = time.monotonic()
            previous, previous_detail = self.state.get(job_id, ("", ""))
            self.state[job_id] = (state, detail)
        # A queued shot says why it waits (the rate limit, a history lookup) once per reason in plain
        # lines; the live table shows the countdown itself.
        reason_changed = state == "queued" and detail and _reason(detail) != _reason(previous_detail)
        if self._live:
            self._live.update(self._table())
        elif not self.quiet and (reason_changed or (state != previous or state in ("failed", "ambiguous", "blocked"))
                                 and state != "queued"):
            done = len(self.finished)
            extra = f": {detail}" if detail else ""
            click.echo(f"[{done:>3}/{len(self.order)}] {job_id} {state}{extra}", err=True)

    def _elapsed(self, job_id: str) -> str:
        start = self.started.get(job_id)
        if start is None:
            return ""
        return f"{self.finished.get(job_id, time.monotonic()) - start:5.1f} s"

    def _table(self):
        from rich.table import Table

        colours = {"done": "green", "cached": "dim", "failed": "red", "ambiguous": "magenta", "skipped": "yellow",
                   "blocked": "yellow",
                   "running": "cyan", "submitted": "cyan", "downloading": "cyan"}
        table = Table(box=None, pad_edge=False, title=None)
        for name in ("shot", "state", "time", "detail"):
            table.add_column(name)
        for job_id in self.order:
            state, detail = self.state[job_id]
            table.add_row(job_id, f"[{colours.get(state, 'white')}]{state}[/]", self._elapsed(job_id), detail[:80])
        done = len(self.finished)
        table.caption = f"{done}/{len(self.order)} finished"
        return table


def _reason(detail: str) -> str:
    """A status detail without its countdown ("waiting for rate limit, next slot in 12 s" → the reason)."""
    return detail.split(", next slot in", 1)[0]


def is_terminal() -> bool:
    return sys.stderr.isatty()
