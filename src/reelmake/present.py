"""Human-readable output: the plan in terraform's shape, status tables, and live render progress."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal

import click

from .catalog import money
from .plan import Plan, PlanRow

SYMBOLS = {"new": ("+", "green"), "changed": ("~", "yellow"), "cached": ("=", None), "in_flight": ("!", "cyan"),
           "removed": ("-", "red")}


def _seconds(value: float) -> str:
    return f"{value:g} s"


def plan_lines(plan: Plan) -> list[str]:
    sb = plan.storyboard
    rows: Sequence[PlanRow] = (*plan.rows, *plan.removed)
    width = max((len(r.id) for r in rows), default=4)
    model_width = max((len(f"{r.backend}/{r.model}") for r in rows), default=10)
    lines = [click.style(f"{sb.title}", bold=True) + f"  ({sb.path.name}, {len(sb.shots)} shots)", ""]
    for row in rows:
        symbol, colour = SYMBOLS[row.status]
        if row.status == "removed":
            detail = "removed from the storyboard (its clip stays in the cache)"
            line = f"  {symbol} {row.id:<{width}}  {detail}"
        else:
            what = {"changed": "changed: " + ", ".join(row.changed), "in_flight": f"in flight (task {row.task_id})"}
            line = (f"  {symbol} {row.id:<{width}}  {row.backend + '/' + row.model:<{model_width}}  "
                    f"{_seconds(row.duration):>6}  {row.aspect_ratio:>4}  {row.mode:<5}  {money(row.cost):>8}  "
                    f"{what.get(row.status, row.status)}")
        lines.append(click.style(line, fg=colour) if colour else line)
    lines.append("")
    lines.append(summary_line(plan))
    return lines


def summary_line(plan: Plan) -> str:
    counts = {s: sum(1 for r in plan.rows if r.status == s) for s in ("new", "changed", "cached", "in_flight")}
    parts = [f"{len(plan.to_render)} to render ({money(plan.render_cost)})", f"{counts['cached']} cached"]
    if counts["in_flight"]:
        parts.append(f"{counts['in_flight']} in flight")
    if plan.removed:
        parts.append(f"{len(plan.removed)} removed")
    if plan.gpu_seconds:
        parts.append(f"about {plan.gpu_seconds / 60:.0f} GPU-minutes (estimated)")
    text = "Plan: " + ", ".join(parts) + f". From scratch: {money(plan.total_cost)}."
    if plan.budget is not None:
        verdict = "within budget" if plan.within_budget else click.style("OVER BUDGET", fg="red", bold=True)
        text += f" Budget {money(plan.budget)}: {verdict}."
    return text


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
            if state in ("done", "failed", "cached", "skipped", "ambiguous"):
                self.finished[job_id] = time.monotonic()
            previous = self.state.get(job_id, ("", ""))[0]
            self.state[job_id] = (state, detail)
        if self._live:
            self._live.update(self._table())
        elif not self.quiet and (state != previous or state in ("failed", "ambiguous")) and state != "queued":
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


def is_terminal() -> bool:
    return sys.stderr.isatty()


def plan_markdown(plan: Plan) -> str:
    """The plan as a pull-request comment: what changes, why, and what it costs."""
    sb = plan.storyboard
    lines = [f"### reelmake plan: {sb.title}", "", "| | shot | model | duration | mode | cost | why |",
             "|---|---|---|---|---|---|---|"]
    for row in (*plan.rows, *plan.removed):
        symbol = SYMBOLS[row.status][0]
        why = {"changed": ", ".join(row.changed), "in_flight": f"in flight (task {row.task_id})"}.get(row.status,
                                                                                                      row.status)
        if row.status == "removed":
            lines.append(f"| `{symbol}` | {row.id} | | | | | removed |")
        else:
            lines.append(f"| `{symbol}` | {row.id} | {row.model} | {row.duration:g} s | {row.mode} | "
                         f"{money(row.cost)} | {why} |")
    lines += ["", click.unstyle(summary_line(plan))]
    return "\n".join(lines)
