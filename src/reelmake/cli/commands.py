"""The commands on a storyboard or campaign file: validate, plan, render, cut, export, status, gc, expand,
schema. Each parses its options, calls the library and formats the result."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import click

from .. import present
from ..errors import ValidationError
from .app import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_PENDING,
    _adopt,
    _emit_json,
    _executor,
    _ids,
    _open,
    _render_then_cut,
    _report,
    _seconds,
    _usd,
    backend_option,
    cache_option,
    executor_options,
    json_option,
    main,
    target_options,
)


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


@main.command()
@target_options
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Renders at once per backend.")
@click.option("--max-cost", callback=_usd, metavar="USD", help="Hard cap on what this run submits.")
@click.option("--only", metavar="ID,…", help="Render only these shots.")
@click.option("--force", metavar="ID,…", help="Render these shots again even if cached.")
@click.option("--resubmit", metavar="ID,…", help="Submit again shots whose earlier submit is ambiguous.")
@click.option("--adopt", multiple=True, callback=_adopt, metavar="SHOT=TASK_ID",
              help="Take this provider task as the shot's (a held ambiguous submit's candidate); repeatable.")
@click.option("--price-check", is_flag=True, help="Ask the provider for each new shot's price first; stop if it "
                                                  "differs from the catalog by more than a cent.")
@click.option("--no-cut", is_flag=True, help="Render clips only; do not cut deliverables.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
@click.option("--timeout", type=float, callback=_seconds, metavar="SECONDS", help="Per-shot time limit.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending money.")
@executor_options
def render(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
           jobs: int | None, max_cost: Decimal | None, only: str | None, force: str | None, resubmit: str | None,
           adopt: dict[str, str], price_check: bool, no_cut: bool, out: str | None, timeout: float | None, yes: bool,
           executor: str | None, address: str | None) -> None:
    """Render what the plan says, in parallel, then cut every deliverable (every variant of a campaign,
    rendering shots they share once).

    Exit 0 when everything rendered and cut, 1 when anything failed, 130 when interrupted
    (submitted tasks are resumed by the next run)."""
    from ..engine.graph import upstream_rows
    from ..engine.outcomes import RenderOptions

    project = _open(path, backend, cache_dir, variants)
    the_plan = project.plan(_ids(force))
    chosen = the_plan.jobs(_ids(only))
    if only:  # --only renders what the chosen shots are made from first: say so before anything starts
        for upstream, users in upstream_rows(the_plan, chosen).items():
            click.echo(f"rendering {upstream} first: {', '.join(users)} {'needs' if len(users) == 1 else 'need'} it",
                       err=True)
    for shot in adopt:
        if not any(shot == j.key or j.id.matches(shot) for j in chosen):
            raise click.BadParameter(f"{shot!r} names no shot this render would submit (rendered already? "
                                     "add --force to render it again from the adopted task)", param_hint="--adopt")
    options = RenderOptions(jobs=jobs, max_cost=max_cost, resubmit=frozenset(_ids(resubmit)), adopt=adopt,
                            timeout=timeout)
    _render_then_cut(project, the_plan, options, only=_ids(only), as_json=as_json, yes=yes, no_cut=no_cut, out=out,
                     price_check=price_check, executor=executor, address=address, jobs=jobs)



@main.command()
@target_options
@click.option("--deliverable", metavar="NAME", help="Cut only this deliverable.")
@click.option("--partial", is_flag=True, help="Put a slate where a shot is missing instead of failing.")
@click.option("--draft", is_flag=True, help="Half resolution, fast preset: a quick review cut.")
@click.option("--approved-only", is_flag=True, help="Put a slate where a shot has no approved take.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
@executor_options
def cut(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
        deliverable: str | None, partial: bool, draft: bool, approved_only: bool, out: str | None,
        executor: str | None, address: str | None) -> None:
    """Stitch deliverables from rendered clips only (never renders): each shot's approved take, else its
    newest. Exit 0, or 1 on failure."""
    project = _open(path, backend, cache_dir, variants)
    with _executor(project, executor, address) as runner:
        summary = project.cut(out=out, deliverable=deliverable, partial=partial, draft=draft,
                              approved_only=approved_only, executor=runner)
    _report(summary, as_json)
    sys.exit(EXIT_OK if summary.cuts.ok else EXIT_FAIL)


@main.command()
@target_options
@click.option("--format", "fmt", type=click.Choice(["otio", "fcpxml", "edl"]), required=True,
              help="OpenTimelineIO, Final Cut Pro XML, or a CMX 3600 EDL.")
@click.option("--deliverable", metavar="NAME", help="Export only this deliverable.")
@click.option("--media", type=click.Choice(["copy", "link", "cache"]), default="link", show_default=True,
              help="Clips beside the export as copies (to hand over) or symlinks, or pointing into the cache.")
@click.option("--out", type=click.Path(file_okay=False), help="Export folder (default out/<stem>/export/).")
def export(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
           fmt: str, deliverable: str | None, media: str, out: str | None) -> None:
    """Each deliverable's timeline for editing software, checked against the cut. Exit 0, or 1 on failure."""
    from ..fsutil import display_name

    exports = _open(path, backend, cache_dir, variants).export(fmt, deliverable=deliverable, media=media, out=out)
    if as_json:
        _emit_json(exports.to_json())
    else:
        for vid, results in exports.results.items():
            for result in results.values():
                click.echo(f"{vid + '/' if vid else ''}{result.deliverable}: {display_name(result.path)} "
                           f"(as the {result.checked_against} places it)")
                for note in result.notes:
                    click.echo(f"  not carried: {note}")
        for vid, errors in exports.errors.items():
            for name, error in errors.items():
                click.echo(click.style("error: ", fg="red", bold=True) + f"{vid + '/' if vid else ''}{name}: {error}",
                           err=True)
    sys.exit(EXIT_OK if exports.ok else EXIT_FAIL)


@main.command()
@target_options
def status(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...]) -> None:
    """Rendered / in flight (provider task id and age) / ambiguous / pending / failed, per render
    (per variant and shot for a campaign, shot#2 for take 2), then the decisions on each shot's takes."""
    project = _open(path, backend, cache_dir, variants)
    rows = project.status()
    takes = project.takes()
    if as_json:
        _emit_json({"shots": [r.__dict__ for r in rows],
                    "decisions": {t.name: t.approval.to_json() for t in takes if t.approval}})
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
            extra += f"  (rerun to reconcile, --adopt {row.id}=TASK_ID, or --resubmit {row.id})"
        click.echo(f"  {row.id:<{width}}  {row.state:<9}{extra}")
    counts = {s: sum(1 for r in rows if r.state == s) for s in ("rendered", "in_flight", "ambiguous", "pending",
                                                                 "failed")}
    click.echo(", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n))
    decided = [t for t in takes if t.approval]
    if decided:
        click.echo("decisions:")
        for line in present.decision_lines(decided):
            click.echo(f"  {line}")


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
    from ..engine.api import gc as collect

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


