"""`reelmake` command line: parse options, call the library, format results. Nothing else."""

from __future__ import annotations

import json
import logging
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from . import present
from .catalog import money
from .errors import BudgetExceeded, ReelmakeError, ValidationError
from .render import RenderOptions
from .schema import schema_text
from .storyboard import display_name, parse

EXIT_OK, EXIT_FAIL, EXIT_PENDING, EXIT_INTERRUPTED = 0, 1, 2, 130


def _ids(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _usd(ctx, param, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value.lstrip("$"))
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount in USD (e.g. 12.50)") from None
    if amount < 0:
        raise click.BadParameter("must not be negative")
    return amount


def _emit_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _fail(message: str, code: int = EXIT_FAIL) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns reelmake's own errors into one clear line and exit 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            for problem in exc.problems:
                colour = "red" if problem.severity == "error" else "yellow"
                click.echo(click.style(problem.format(), fg=colour), err=True)
            click.echo(f"{len(exc.errors)} error(s), {len(exc.warnings)} warning(s)", err=True)
            sys.exit(EXIT_FAIL)
        except ReelmakeError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            click.echo("\ninterrupted: submitted tasks are kept in the journal; run the same command again to "
                       "resume them", err=True)
            sys.exit(EXIT_INTERRUPTED)


cache_option = click.option("--cache-dir", type=click.Path(file_okay=False), envvar="REELMAKE_CACHE_DIR",
                            help="Clip cache (default: .reelmake/ at the project root; env REELMAKE_CACHE_DIR).")
backend_option = click.option("--backend", "backend", metavar="NAME",
                              help="Render every shot with this backend (e.g. animatic for a free preview).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="Show what happens, including every ffmpeg command (-vv: debug).")
@click.version_option(package_name="reelmake")
def main(verbose: int) -> None:
    """Turn YAML storyboards into finished AI video.

    \b
    Typical session:
      reelmake validate spot.yaml                 # every problem, with file:line:column
      reelmake plan spot.yaml                     # what will render, why, and what it costs
      reelmake render spot.yaml --backend animatic  # a free offline preview
      reelmake render spot.yaml --max-cost 20     # the real thing, capped
    """
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="reelmake: %(message)s", stream=sys.stderr)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@backend_option
@json_option
@click.option("--no-media", is_flag=True, help="Skip probing reference media with ffprobe.")
def validate(paths: tuple[str, ...], backend: str | None, as_json: bool, no_media: bool) -> None:
    """Check storyboards: every error and warning at once, as FILE:LINE:COL: error: PATH: message.

    Exit 0 when valid, 1 when any storyboard has an error."""
    errors, warnings = [], []
    for raw in paths:
        path = Path(raw)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            from .errors import Problem

            errors.append(Problem(display_name(path), 1, 1, "", f"cannot read: {exc}"))
            continue
        _, problems = parse(text, path, backend=backend, check_media=not no_media)
        errors += [p for p in problems if p.severity == "error"]
        warnings += [p for p in problems if p.severity == "warning"]
    if as_json:
        _emit_json({"valid": not errors, "errors": [p.to_json() for p in errors],
                    "warnings": [p.to_json() for p in warnings]})
    else:
        for problem in sorted(errors + warnings, key=lambda p: (p.file, p.line, p.column)):
            colour = "red" if problem.severity == "error" else "yellow"
            click.echo(click.style(problem.format(), fg=colour), err=bool(errors))
        if not errors:
            click.echo(f"{len(paths)} storyboard(s) valid" + (f", {len(warnings)} warning(s)" if warnings else ""))
        else:
            click.echo(f"{len(errors)} error(s), {len(warnings)} warning(s)", err=True)
    sys.exit(EXIT_FAIL if errors else EXIT_OK)


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@backend_option
@cache_option
@json_option
@click.option("--check", is_flag=True, help="Exit 2 when renders are pending (for CI).")
@click.option("--force", metavar="ID,…", help="Plan these shots as changed, to render them again.")
def plan(path: str, backend: str | None, cache_dir: str | None, as_json: bool, check: bool, force: str | None) -> None:
    """Show what a render would do: + new, ~ changed (and why), = cached, ! in flight, - removed,
    with this run's cost, the from-scratch cost and the budget verdict.

    Exit 0; 1 on error; with --check, 2 when renders are pending."""
    from .workflow import plan as make_plan

    result = make_plan(path, backend=backend, cache_dir=cache_dir, force=_ids(force))
    if as_json:
        _emit_json(result.to_json())
    else:
        for warning in result.storyboard.warnings:
            click.echo(click.style(warning.format(), fg="yellow"), err=True)
        click.echo("\n".join(present.plan_lines(result)))
    if not result.within_budget:
        sys.exit(EXIT_FAIL)
    sys.exit(EXIT_PENDING if check and result.pending else EXIT_OK)


def _confirm_spend(amount: Decimal, yes: bool, max_cost: Decimal | None) -> None:
    """SPEC §5: a paid render never starts silently."""
    if amount <= 0 or yes or max_cost is not None:
        return
    if not sys.stdin.isatty():
        raise BudgetExceeded(f"this render would submit {money(amount)} of paid work; pass --yes or --max-cost USD "
                             "to allow it (no terminal to ask on)")
    if not click.confirm(f"Submit {money(amount)} of paid renders?", default=False, err=True):
        raise BudgetExceeded("cancelled: nothing was submitted")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@backend_option
@cache_option
@json_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Renders at once per backend.")
@click.option("--max-cost", callback=_usd, metavar="USD", help="Hard cap on what this run submits.")
@click.option("--only", metavar="ID,…", help="Render only these shots.")
@click.option("--force", metavar="ID,…", help="Render these shots again even if cached.")
@click.option("--resubmit", metavar="ID,…", help="Submit again shots whose earlier submit is ambiguous.")
@click.option("--no-cut", is_flag=True, help="Render clips only; do not cut deliverables.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
@click.option("--timeout", type=float, metavar="SECONDS", help="Per-shot time limit.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending money.")
def render(path: str, backend: str | None, cache_dir: str | None, as_json: bool, jobs: int | None,
           max_cost: Decimal | None, only: str | None, force: str | None, resubmit: str | None, no_cut: bool,
           out: str | None, timeout: float | None, yes: bool) -> None:
    """Render what the plan says, in parallel, then cut every deliverable.

    Exit 0 when everything rendered and cut, 1 when anything failed, 130 when interrupted
    (submitted tasks are resumed by the next run)."""
    import asyncio

    from .workflow import Project, RenderSummary, cut_project, effective_cap, render_async, select_jobs

    project = Project.open(path, backend=backend, cache_dir=cache_dir)
    the_plan = project.plan(_ids(force))
    for warning in project.storyboard.warnings:
        click.echo(click.style(warning.format(), fg="yellow"), err=True)
    chosen = select_jobs(the_plan, _ids(only))
    cost = sum((j.cost for j in chosen if j.key not in {r.key for r in the_plan.in_flight}), Decimal(0))
    _confirm_spend(cost, yes, max_cost)
    options = RenderOptions(jobs=jobs, max_cost=effective_cap(project.storyboard, max_cost),
                            resubmit=frozenset(_ids(resubmit)), timeout=timeout)
    progress = present.Progress([j.shot_id for j in chosen], live=present.is_terminal() and not as_json,
                                quiet=as_json)
    with progress:
        result = asyncio.run(render_async(project, the_plan, options, only=_ids(only), on_event=progress))
    summary = RenderSummary(the_plan, result)
    if not no_cut:
        cut_project(project, summary, out=out)
    _report_render(summary, as_json)
    sys.exit(EXIT_OK if summary.ok else EXIT_FAIL)


def _report_render(summary, as_json: bool) -> None:
    data = summary.to_json()
    if as_json:
        _emit_json(data)
        return
    for failure in data["failed"]:
        click.echo(click.style(f"{failure['status']}: {failure['id']}: {failure['error']}", fg="red"), err=True)
    for name, error in summary.cut_errors.items():
        click.echo(click.style(f"cut {name}: {error}", fg="red"), err=True)
    click.echo(f"rendered {len(data['rendered'])}, cached {len(data['cached'])}, failed {len(data['failed'])}; "
               f"spent {money(summary.result.spent)}")
    for name, path in summary.outputs.items():
        loudness = summary.loudness.get(name)
        level = f"  ({loudness:.1f} LUFS)" if loudness is not None else ""
        click.echo(f"  {name}: {display_name(Path(path))}{level}")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@backend_option
@cache_option
@json_option
@click.option("--deliverable", metavar="NAME", help="Cut only this deliverable.")
@click.option("--partial", is_flag=True, help="Put a slate where a shot is missing instead of failing.")
@click.option("--draft", is_flag=True, help="Half resolution, fast preset: a quick review cut.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
def cut(path: str, backend: str | None, cache_dir: str | None, as_json: bool, deliverable: str | None,
        partial: bool, draft: bool, out: str | None) -> None:
    """Stitch deliverables from rendered clips only (never renders). Exit 0, or 1 on failure."""
    from .workflow import cut as do_cut

    summary = do_cut(path, backend=backend, cache_dir=cache_dir, out=out, deliverable=deliverable,
                     partial=partial, draft=draft)
    _report_render(summary, as_json)
    sys.exit(EXIT_OK if not summary.cut_errors else EXIT_FAIL)


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@backend_option
@cache_option
@json_option
def status(path: str, backend: str | None, cache_dir: str | None, as_json: bool) -> None:
    """Rendered / in flight (provider task id and age) / ambiguous / pending / failed, per shot."""
    from .workflow import status as get_status

    rows = get_status(path, backend=backend, cache_dir=cache_dir)
    if as_json:
        _emit_json({"shots": [r.__dict__ for r in rows]})
        return
    width = max((len(r.id) for r in rows), default=4)
    for row in rows:
        extra = ""
        if row.task_id:
            extra += f"  task {row.task_id}"
        if row.age is not None:
            extra += f"  {row.age / 60:.0f} min ago"
        if row.error:
            extra += f"  {row.error}"
        if row.state == "ambiguous":
            extra += f"  (rerun to reconcile, or --resubmit {row.id})"
        click.echo(f"  {row.id:<{width}}  {row.state:<9}{extra}")
    counts = {s: sum(1 for r in rows if r.state == s) for s in ("rendered", "in_flight", "ambiguous", "pending",
                                                                 "failed")}
    click.echo(", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n))


@main.command()
@click.option("--campaign", is_flag=True, help="Print the campaign file schema instead.")
def schema(campaign: bool) -> None:
    """Print the storyboard JSON Schema (draft 2020-12), for editors and CI."""
    click.echo(schema_text("campaign" if campaign else "storyboard"), nl=False)


if __name__ == "__main__":
    main()
