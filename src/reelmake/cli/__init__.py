"""`reelmake` command line: parse options, call the library, format results. Nothing else.

Every command takes a storyboard or a campaign file alike; the library (``reelmake.engine.project``)
does the work, ``reelmake.present`` formats it.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from .. import present
from ..catalog import money
from ..errors import ReelmakeError, ValidationError

EXIT_OK, EXIT_FAIL, EXIT_PENDING, EXIT_INTERRUPTED = 0, 1, 2, 130


def _ids(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _usd(ctx, param, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value.strip().lstrip("$"))
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount in USD (e.g. 12.50)") from None
    if not amount.is_finite():
        raise click.BadParameter(f"{value!r} is not an amount in USD (e.g. 12.50)")
    if amount < 0 or amount.is_signed():
        raise click.BadParameter("must not be negative")
    return amount


def _seconds(ctx, param, value: float | None) -> float | None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise click.BadParameter(f"{value!r} is not a number of seconds greater than 0")
    return value


def _emit_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _fail(message: str, code: int = EXIT_FAIL) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns reelmake's own errors into clear lines and exit 1, never a traceback."""

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
        except OSError as exc:  # the disk, not the input: say which file and why, without a traceback
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}")
        except KeyboardInterrupt:
            click.echo("\ninterrupted: submitted tasks are kept in the journal; run the same command again to "
                       "resume them", err=True)
            sys.exit(EXIT_INTERRUPTED)


cache_option = click.option("--cache-dir", type=click.Path(file_okay=False), envvar="REELMAKE_CACHE_DIR",
                            help="Workspace (default: .reelmake/ at the project root; env REELMAKE_CACHE_DIR).")
backend_option = click.option("--backend", "backend", metavar="NAME",
                              help="Render every shot with this backend (e.g. animatic for a free preview).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
variant_option = click.option("--variant", "variants", multiple=True, metavar="ID",
                              help="Campaigns: only these variants (repeatable; patterns like 'de-*').")


def target_options(command):
    """PATH (a storyboard or a campaign) and the options every command on one shares."""
    for option in (json_option, cache_option, backend_option, variant_option,
                   click.argument("path", type=click.Path(exists=True, dir_okay=False))):
        command = option(command)
    return command


def _open(path: str, backend: str | None, cache_dir: str | None, variants: tuple[str, ...]):
    from ..engine.project import Project

    project = Project.open(path, backend=backend, cache_dir=cache_dir, variants=list(variants) or None)
    for warning in project.campaign.warnings:
        click.echo(click.style(warning.format(), fg="yellow"), err=True)
    return project


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
    """Check storyboards and campaigns: every error and warning at once, as
    FILE:LINE:COL: error: PATH: message.

    Exit 0 when valid, 1 when any storyboard has an error."""
    from ..engine.loading import load

    errors, warnings = [], []
    for raw in paths:
        try:
            problems = list(load(Path(raw), backend=backend, check_media=not no_media).campaign.warnings)
        except ValidationError as exc:
            problems = exc.problems
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
@target_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              help="text (default), json (same as --json), or markdown for a pull-request comment.")
@click.option("--check", is_flag=True, help="Exit 2 when renders are pending (for CI).")
@click.option("--force", metavar="ID,…", help="Plan these shots as changed, to render them again.")
@click.option("--hosts", "hosts", is_flag=True, help="Price the plan on every host that offers its models, side by "
                                                    "side (JSON: per host render_cost, total_cost, unavailable).")
def plan(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
         fmt: str, check: bool, force: str | None, hosts: bool) -> None:
    """Show what a render would do: + new, ~ changed (and why), = cached, ! in flight, - removed,
    with this run's cost, the from-scratch cost and the budget verdict. Works on campaigns too.

    Exit 0; 1 on error or over budget; with --check, 2 when renders are pending."""
    project = _open(path, backend, cache_dir, variants)
    if hosts:
        comparison = project.compare_hosts()
        if as_json or fmt == "json":
            _emit_json(comparison.to_json())
        else:
            click.echo("\n".join(present.host_lines(comparison)))
        sys.exit(EXIT_OK)
    result = project.plan(_ids(force))
    fmt = "json" if as_json else fmt
    if fmt == "json":
        _emit_json(result.to_json())
    elif fmt == "markdown":
        click.echo(present.plan_markdown(result))
    else:
        click.echo("\n".join(present.plan_lines(result)))
    if not result.within_budget:
        sys.exit(EXIT_FAIL)
    sys.exit(EXIT_PENDING if check and result.pending else EXIT_OK)


def _confirm(amount: Decimal) -> bool:
    """SPEC §5: a paid render never starts silently; on a terminal, ask."""
    return click.confirm(f"Submit {money(amount)} of paid renders?", default=False, err=True)


@main.command()
@target_options
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Renders at once per backend.")
@click.option("--max-cost", callback=_usd, metavar="USD", help="Hard cap on what this run submits.")
@click.option("--only", metavar="ID,…", help="Render only these shots.")
@click.option("--force", metavar="ID,…", help="Render these shots again even if cached.")
@click.option("--resubmit", metavar="ID,…", help="Submit again shots whose earlier submit is ambiguous.")
@click.option("--price-check", is_flag=True, help="Ask the provider for each new shot's price first; stop if it "
                                                  "differs from the catalog by more than a cent.")
@click.option("--no-cut", is_flag=True, help="Render clips only; do not cut deliverables.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
@click.option("--timeout", type=float, callback=_seconds, metavar="SECONDS", help="Per-shot time limit.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending money.")
def render(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
           jobs: int | None, max_cost: Decimal | None, only: str | None, force: str | None, resubmit: str | None,
           price_check: bool, no_cut: bool, out: str | None, timeout: float | None, yes: bool) -> None:
    """Render what the plan says, in parallel, then cut every deliverable (every variant of a campaign,
    rendering shots they share once).

    Exit 0 when everything rendered and cut, 1 when anything failed, 130 when interrupted
    (submitted tasks are resumed by the next run)."""
    import asyncio

    from ..engine.orchestrator import RenderOptions
    from ..engine.project import RenderSummary

    project = _open(path, backend, cache_dir, variants)
    the_plan = project.plan(_ids(force))
    chosen = the_plan.jobs(_ids(only))
    options = RenderOptions(jobs=jobs, max_cost=max_cost, resubmit=frozenset(_ids(resubmit)), timeout=timeout)
    progress = present.Progress([j.shot_id for j in chosen], live=present.is_terminal() and not as_json,
                                quiet=as_json)
    with progress:
        result = asyncio.run(project.render_async(the_plan, options, only=_ids(only), on_event=progress, yes=yes,
                                                  confirm=_confirm if sys.stdin.isatty() else None,
                                                  price_check=price_check))
    summary = RenderSummary(the_plan, result)
    if not no_cut and not result.interrupted:
        project.cut(summary=summary, out=out)
    _report(summary, as_json)
    sys.exit(EXIT_INTERRUPTED if result.interrupted else EXIT_OK if summary.ok else EXIT_FAIL)


def _report(summary, as_json: bool) -> None:
    data = summary.to_json()
    if as_json:
        _emit_json(data)
        return
    for failure in data["failed"]:
        click.echo(click.style(f"{failure['status']}: {failure['id']}: {failure['error']}", fg="red"), err=True)
    cuts = summary.cuts
    for vid, errors in cuts.errors.items():
        for name, error in errors.items():
            click.echo(click.style(f"cut {vid + '/' if vid else ''}{name}: {error}", fg="red"), err=True)
    click.echo(f"rendered {len(data['rendered'])}, cached {len(data['cached'])}, failed {len(data['failed'])}; "
               f"spent {money(summary.result.spent)}")
    from ..fsutil import display_name

    for vid, outputs in cuts.outputs.items():
        for name, path in outputs.items():
            loudness = cuts.loudness.get(vid, {}).get(name)
            level = f"  ({loudness:.1f} LUFS)" if loudness is not None else ""
            click.echo(f"  {vid + '/' if vid else ''}{name}: {display_name(Path(path))}{level}")


@main.command()
@target_options
@click.option("--deliverable", metavar="NAME", help="Cut only this deliverable.")
@click.option("--partial", is_flag=True, help="Put a slate where a shot is missing instead of failing.")
@click.option("--draft", is_flag=True, help="Half resolution, fast preset: a quick review cut.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
def cut(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
        deliverable: str | None, partial: bool, draft: bool, out: str | None) -> None:
    """Stitch deliverables from rendered clips only (never renders). Exit 0, or 1 on failure."""
    project = _open(path, backend, cache_dir, variants)
    summary = project.cut(out=out, deliverable=deliverable, partial=partial, draft=draft)
    _report(summary, as_json)
    sys.exit(EXIT_OK if summary.cuts.ok else EXIT_FAIL)


@main.command()
@target_options
def status(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...]) -> None:
    """Rendered / in flight (provider task id and age) / ambiguous / pending / failed, per shot
    (per variant and shot for a campaign)."""
    rows = _open(path, backend, cache_dir, variants).status()
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


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@main.command()
@click.argument("path", required=False, default=".", type=click.Path(exists=True))
@cache_option
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--grace-days", type=click.FloatRange(min=0), default=7.0, show_default=True,
              help="Keep anything unreferenced that is younger than this.")
@json_option
def gc(path: str, cache_dir: str | None, dry_run: bool, grace_days: float, as_json: bool) -> None:
    """Remove from the workspace what no lock under the project references (clips, stale editor
    intermediates, temporary files, expired upload records), once older than the grace period.
    Clips of tasks in flight are never removed. PATH: the project (default: the current folder)."""
    from ..engine.project import gc as collect

    report = collect(path, cache_dir=cache_dir, grace=grace_days * 86400, dry_run=dry_run)
    if as_json:
        _emit_json({"dry_run": report.dry_run, "removed": [{"path": p, "bytes": b} for p, b in report.removed],
                    "freed": report.freed, "kept": report.kept, "young": report.young})
        return
    verb = "would remove" if dry_run else "removed"
    for item, size in report.removed:
        click.echo(f"  {verb} {item}  ({_size(size)})")
    click.echo(f"{verb} {len(report.removed)} file(s), {_size(report.freed)}; kept {report.kept} clip(s) a lock "
               f"references, {report.young} unreferenced clip(s) younger than {grace_days:g} days")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--variant", metavar="ID", help="The variant to print; without it, list the variant ids.")
def expand(path: str, variant: str | None) -> None:
    """Print the storyboard a campaign template renders for one variant (to see what it produced)."""
    from ..campaign.load import expand_command, variant_ids

    if variant is None:
        click.echo("\n".join(variant_ids(path)))
    else:
        click.echo(expand_command(path, variant), nl=False)


@main.command()
@click.option("--campaign", is_flag=True, help="Print the campaign file schema instead.")
@click.option("--output", type=click.Path(file_okay=False), metavar="DIR",
              help="Write storyboard.schema.json and campaign.schema.json into DIR (for editors' modelines).")
def schema(campaign: bool, output: str | None) -> None:
    """Print the storyboard JSON Schema (draft 2020-12), for editors and CI. It is assembled from the
    installed backends, so their settings are checked too."""
    from ..core.schema import schema_text
    from ..fsutil import atomic_write_text

    if output:
        for name in ("storyboard", "campaign"):
            target = Path(output) / f"{name}.schema.json"
            atomic_write_text(target, schema_text(name))
            click.echo(f"wrote {target}")
        return
    click.echo(schema_text("campaign" if campaign else "storyboard"), nl=False)


if __name__ == "__main__":
    main()
