"""`reelmake` command line: parse options, call the library, format results. Nothing else."""

from __future__ import annotations

import json
import logging
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from . import present
from .cache import default_cache_dir
from .catalog import money
from .errors import BudgetExceeded, ReelmakeError, ValidationError
from .orchestrator import RenderOptions
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


def target_options(command):
    """PATH (a storyboard or a campaign) and the options every command on one shares."""
    for option in (json_option, cache_option, backend_option,
                   click.argument("path", type=click.Path(exists=True, dir_okay=False))):
        command = option(command)
    return command


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


def _problems(path: Path, backend: str | None, *, check_media: bool) -> list:
    """Every problem of a storyboard or a campaign file (all variants)."""
    from .campaign import is_campaign_file, load_campaign
    from .errors import Problem

    if is_campaign_file(path):
        try:
            campaign = load_campaign(path, backend=backend, check_media=check_media)
        except ValidationError as exc:
            return exc.problems
        return list(campaign.warnings)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(display_name(path), 1, 1, "", f"cannot read: {exc}")]
    return parse(text, path, backend=backend, check_media=check_media)[1]


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@backend_option
@json_option
@click.option("--no-media", is_flag=True, help="Skip probing reference media with ffprobe.")
def validate(paths: tuple[str, ...], backend: str | None, as_json: bool, no_media: bool) -> None:
    """Check storyboards and campaigns: every error and warning at once, as
    FILE:LINE:COL: error: PATH: message.

    Exit 0 when valid, 1 when any storyboard has an error."""
    errors, warnings = [], []
    for raw in paths:
        path = Path(raw)
        problems = _problems(path, backend, check_media=not no_media)
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


variant_option = click.option("--variant", "variants", multiple=True, metavar="ID",
                              help="Campaigns: only these variants (repeatable; patterns like 'de-*').")


@main.command()
@target_options
@variant_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              help="text (default), json (same as --json), or markdown for a pull-request comment.")
@click.option("--check", is_flag=True, help="Exit 2 when renders are pending (for CI).")
@click.option("--force", metavar="ID,…", help="Plan these shots as changed, to render them again.")
def plan(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
         fmt: str, check: bool, force: str | None) -> None:
    """Show what a render would do: + new, ~ changed (and why), = cached, ! in flight, - removed,
    with this run's cost, the from-scratch cost and the budget verdict. Works on campaigns too.

    Exit 0; 1 on error or over budget; with --check, 2 when renders are pending."""
    from .campaign import is_campaign_file

    fmt = "json" if as_json else fmt
    if is_campaign_file(path):
        from .campaign_workflow import plan as plan_campaign

        result = plan_campaign(path, backend=backend, cache_dir=cache_dir, variants=list(variants) or None,
                               force=_ids(force))
        warnings, text = result.campaign.warnings, "\n".join(result.text_lines())
    else:
        from .workflow import plan as make_plan

        result = make_plan(path, backend=backend, cache_dir=cache_dir, force=_ids(force))
        warnings, text = result.storyboard.warnings, "\n".join(present.plan_lines(result))
    if fmt == "json":
        _emit_json(result.to_json())
    elif fmt == "markdown":
        click.echo(result.to_markdown() if hasattr(result, "to_markdown") else present.plan_markdown(result))
    else:
        for warning in warnings:
            click.echo(click.style(warning.format(), fg="yellow"), err=True)
        click.echo(text)
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
@target_options
@variant_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Renders at once per backend.")
@click.option("--max-cost", callback=_usd, metavar="USD", help="Hard cap on what this run submits.")
@click.option("--only", metavar="ID,…", help="Render only these shots.")
@click.option("--force", metavar="ID,…", help="Render these shots again even if cached.")
@click.option("--resubmit", metavar="ID,…", help="Submit again shots whose earlier submit is ambiguous.")
@click.option("--price-check", is_flag=True, help="Ask the provider for each new shot's price first; stop if it "
                                                  "differs from the catalog by more than a cent.")
@click.option("--no-cut", is_flag=True, help="Render clips only; do not cut deliverables.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
@click.option("--timeout", type=float, metavar="SECONDS", help="Per-shot time limit.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending money.")
def render(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
           jobs: int | None, max_cost: Decimal | None, only: str | None, force: str | None, resubmit: str | None,
           price_check: bool, no_cut: bool, out: str | None, timeout: float | None, yes: bool) -> None:
    """Render what the plan says, in parallel, then cut every deliverable (every variant of a campaign,
    rendering shots they share once).

    Exit 0 when everything rendered and cut, 1 when anything failed, 130 when interrupted
    (submitted tasks are resumed by the next run)."""
    import asyncio

    from . import workflow
    from .campaign import is_campaign_file

    if is_campaign_file(path):
        from . import campaign_workflow as flow

        project = flow.CampaignProject.open(path, backend=backend, cache_dir=cache_dir,
                                            variants=list(variants) or None)
        the_plan = project.plan(_ids(force))
        warnings, budget_of, settings = project.campaign.warnings, project.campaign, flow.backend_settings(
            project.campaign)
    else:
        flow = workflow
        project = workflow.Project.open(path, backend=backend, cache_dir=cache_dir)
        the_plan = project.plan(_ids(force))
        warnings, budget_of, settings = (project.storyboard.warnings, project.storyboard,
                                         workflow.runtime_settings(project.storyboard))
    for warning in warnings:
        click.echo(click.style(warning.format(), fg="yellow"), err=True)
    chosen = flow.select_jobs(the_plan, _ids(only))
    in_flight = {j.key for j in chosen if _in_flight(the_plan, j.key)}
    fresh = list({j.key: j for j in chosen if j.key not in in_flight}.values())  # shared keys are paid once
    _confirm_spend(sum((j.cost for j in fresh), Decimal(0)), yes, max_cost)
    if price_check:
        mismatches = asyncio.run(workflow.price_check(fresh, settings, project.cache.root))
        if mismatches:
            raise ReelmakeError("the provider's prices differ from the catalog; nothing was submitted:\n  "
                                + "\n  ".join(mismatches) + "\nupdate the catalog (or report it) before rendering")
    options = RenderOptions(jobs=jobs, max_cost=flow.effective_cap(budget_of, max_cost),
                            resubmit=frozenset(_ids(resubmit)), timeout=timeout)
    progress = present.Progress([j.shot_id for j in chosen], live=present.is_terminal() and not as_json,
                                quiet=as_json)
    with progress:
        result = asyncio.run(flow.render_async(project, the_plan, options, only=_ids(only), on_event=progress))
    if flow is workflow:
        summary = workflow.RenderSummary(the_plan, result)
        if not no_cut and not result.interrupted:
            workflow.cut_project(project, summary, out=out)
    else:
        summary = flow.CampaignRenderSummary(the_plan, result)
        if not no_cut and not result.interrupted:
            flow.cut_campaign(project, summary, out=out)
    _report_render(summary, as_json)
    sys.exit(EXIT_INTERRUPTED if result.interrupted else EXIT_OK if summary.ok else EXIT_FAIL)


def _in_flight(the_plan, key: str) -> bool:
    rows = [r for vp in the_plan.variants for r in vp.plan.rows] if hasattr(the_plan, "variants") else the_plan.rows
    return any(r.key == key and r.status == "in_flight" for r in rows)


def _report_render(summary, as_json: bool) -> None:
    data = summary.to_json()
    if as_json:
        _emit_json(data)
        return
    for failure in data["failed"]:
        click.echo(click.style(f"{failure['status']}: {failure['id']}: {failure['error']}", fg="red"), err=True)
    per_variant = getattr(summary, "variants", None)
    summaries = per_variant.items() if per_variant is not None else [("", summary)]
    for prefix, one in summaries:
        for name, error in one.cut_errors.items():
            click.echo(click.style(f"cut {prefix + '/' if prefix else ''}{name}: {error}", fg="red"), err=True)
    click.echo(f"rendered {len(data['rendered'])}, cached {len(data['cached'])}, failed {len(data['failed'])}; "
               f"spent {money(summary.result.spent)}")
    for prefix, one in summaries:
        for name, path in one.outputs.items():
            loudness = one.loudness.get(name)
            level = f"  ({loudness:.1f} LUFS)" if loudness is not None else ""
            click.echo(f"  {prefix + '/' if prefix else ''}{name}: {display_name(Path(path))}{level}")


@main.command()
@target_options
@click.option("--deliverable", metavar="NAME", help="Cut only this deliverable.")
@click.option("--partial", is_flag=True, help="Put a slate where a shot is missing instead of failing.")
@click.option("--draft", is_flag=True, help="Half resolution, fast preset: a quick review cut.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
def cut(path: str, backend: str | None, cache_dir: str | None, as_json: bool, deliverable: str | None,
        partial: bool, draft: bool, out: str | None) -> None:
    """Stitch deliverables from rendered clips only (never renders). Exit 0, or 1 on failure."""
    from .campaign import is_campaign_file

    if is_campaign_file(path):
        from .campaign_workflow import CampaignProject, CampaignRenderSummary, cut_campaign
        from .orchestrator import RunResult

        project = CampaignProject.open(path, backend=backend, cache_dir=cache_dir)
        summary = cut_campaign(project, CampaignRenderSummary(project.plan(), RunResult()), out=out,
                               deliverable=deliverable, partial=partial, draft=draft)
        failed = any(s.cut_errors for s in summary.variants.values())
    else:
        from .workflow import cut as do_cut

        summary = do_cut(path, backend=backend, cache_dir=cache_dir, out=out, deliverable=deliverable,
                         partial=partial, draft=draft)
        failed = bool(summary.cut_errors)
    _report_render(summary, as_json)
    sys.exit(EXIT_FAIL if failed else EXIT_OK)


@main.command()
@target_options
def status(path: str, backend: str | None, cache_dir: str | None, as_json: bool) -> None:
    """Rendered / in flight (provider task id and age) / ambiguous / pending / failed, per shot
    (per variant and shot for a campaign)."""
    from .campaign import is_campaign_file
    from .workflow import status as get_status

    if is_campaign_file(path):
        from dataclasses import replace

        from .campaign import load_campaign

        campaign = load_campaign(path, backend=backend)
        cache_dir = cache_dir or str(default_cache_dir(campaign.root))
        rows = [replace(row, id=f"{variant.id}/{row.id}") for variant in campaign.variants
                for row in get_status(variant.storyboard, cache_dir=cache_dir)]
    else:
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
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--variant", metavar="ID", help="The variant to print; without it, list the variant ids.")
def expand(path: str, variant: str | None) -> None:
    """Print the storyboard a campaign template renders for one variant (to see what it produced)."""
    from .campaign import expand_command, variant_ids

    if variant is None:
        click.echo("\n".join(variant_ids(path)))
    else:
        click.echo(expand_command(path, variant), nl=False)


@main.command()
@click.option("--campaign", is_flag=True, help="Print the campaign file schema instead.")
def schema(campaign: bool) -> None:
    """Print the storyboard JSON Schema (draft 2020-12), for editors and CI."""
    click.echo(schema_text("campaign" if campaign else "storyboard"), nl=False)


if __name__ == "__main__":
    main()
