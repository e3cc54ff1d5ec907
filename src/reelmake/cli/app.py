"""The `reelmake` click group and what every command shares: options, error handling, output."""

from __future__ import annotations

import json
import logging
import math
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

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


def _adopt(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    from ..engine.recovery import parse_adopt

    try:
        return parse_adopt(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--adopt ")) from None


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


def executor_options(command):
    """``--executor``/``--address``: where local renders and cuts run (default: reelmake.toml, else here)."""
    command = click.option("--address", metavar="ADDRESS",
                           help="The Ray cluster: auto, ray://HOST:PORT or HOST:PORT (default: reelmake.toml's "
                                "[ray] address, else RAY_ADDRESS or a new local instance).")(command)
    return click.option("--executor", type=click.Choice(["in-process", "ray"]),
                        help="Run local-model renders and cuts in this process (default) or on a Ray cluster "
                             "(pip install 'reelmake[ray]'); paid APIs are always called from here.")(command)


def _executor(project, executor: str | None, address: str | None, jobs: int | None = None):
    """The executor for this command, as a context manager (None inside for in-process)."""
    from ..engine.executors import choose_executor, open_executor

    choice = choose_executor(executor, address, project.campaign.root)
    return open_executor(choice, jobs=jobs, on_note=lambda note: click.echo(click.style(note, dim=True), err=True))


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


def _confirm(amount: Decimal) -> bool:
    """SPEC §5: a paid render never starts silently; on a terminal, ask."""
    return click.confirm(f"Submit {money(amount)} of paid renders?", default=False, err=True)


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
    for held in data.get("held", []):
        click.echo(click.style(f"held: {held['id']}: waits until {', '.join(held['held_by'])} is approved "
                               "(reelmake approve FILE NAME)", fg="yellow"), err=True)
    images = data.get("images", [])
    made = f" and {len(images)} image{'s' if len(images) != 1 else ''}" if images else ""
    held = f", held {len(data['held'])}" if data.get("held") else ""
    click.echo(f"rendered {len(data['rendered'])}{made}, cached {len(data['cached'])}, failed {len(data['failed'])}"
               f"{held}; spent {money(summary.result.spent)}")
    from ..fsutil import display_name

    for vid, outputs in cuts.outputs.items():
        for name, path in outputs.items():
            loudness = cuts.loudness.get(vid, {}).get(name)
            level = f"  ({loudness:.1f} LUFS)" if loudness is not None else ""
            click.echo(f"  {vid + '/' if vid else ''}{name}: {display_name(Path(path))}{level}")


def _render_then_cut(project, the_plan, options, *, only: list[str], as_json: bool, yes: bool, no_cut: bool,
                     out: str | None, price_check: bool = False, executor: str | None = None,
                     address: str | None = None, jobs: int | None = None) -> NoReturn:
    """Render ``the_plan`` (narrowed by ``only``) with a progress display, cut every deliverable unless
    ``--no-cut`` or interrupted, report, and exit: 0, 1 when anything failed, 130 when interrupted.
    In process, each deliverable's pieces are made as its clips land; on a Ray cluster the cuts are
    spread over the workers once the renders are done."""
    import asyncio

    from ..engine.summary import RenderSummary

    chosen = the_plan.jobs(only)
    progress = present.Progress([j.shot_id for j in chosen], live=present.is_terminal() and not as_json,
                                quiet=as_json)
    with _executor(project, executor, address, jobs) as runner:
        with progress:
            result = asyncio.run(project.render_async(the_plan, options, only=only, on_event=progress, yes=yes,
                                                      confirm=_confirm if sys.stdin.isatty() else None,
                                                      price_check=price_check, executor=runner,
                                                      cut_ahead=not no_cut and runner is None))
        summary = RenderSummary(the_plan, result)
        if not no_cut and not result.interrupted:
            project.cut(summary=summary, out=out, executor=runner)
    _report(summary, as_json)
    sys.exit(EXIT_INTERRUPTED if result.interrupted else EXIT_OK if summary.ok else EXIT_FAIL)
