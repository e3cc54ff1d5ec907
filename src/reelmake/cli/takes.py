"""`reelmake take`, `approve`, `reject` and `review`: more takes of a shot and decisions about them."""

from __future__ import annotations

from decimal import Decimal

import click

from .app import _emit_json, _open, _render_then_cut, _usd, main, target_options


@main.command()
@target_options
@click.argument("shot")
@click.option("-n", "count", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="How many more takes to render.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Renders at once per backend.")
@click.option("--max-cost", callback=_usd, metavar="USD", help="Hard cap on what this run submits.")
@click.option("--no-cut", is_flag=True, help="Render the takes only; do not cut deliverables.")
@click.option("--out", type=click.Path(file_okay=False), help="Deliverables folder (default out/<stem>/).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending money.")
def take(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...], shot: str,
         count: int, jobs: int | None, max_cost: Decimal | None, no_cut: bool, out: str | None, yes: bool) -> None:
    """Render N more takes of SHOT as it stands (numbered after its newest), then cut: each shot is cut
    from its approved take, else its newest. Earlier takes are never replaced.

    Exit 0 when the takes rendered, 1 when any failed, 130 when interrupted."""
    from ..engine.outcomes import RenderOptions

    project = _open(path, backend, cache_dir, variants)
    the_plan = project.plan([shot], takes=count)
    _render_then_cut(project, the_plan, RenderOptions(jobs=jobs, max_cost=max_cost), only=[shot], as_json=as_json,
                     yes=yes, no_cut=no_cut, out=out)


@main.command()
@target_options
@click.argument("shot")
@click.option("--take", "take_number", type=click.IntRange(min=1), help="The take to approve (default: the newest "
                                                                        "rendered).")
@click.option("--note", help="Why, for whoever reads the lock or the review page.")
def approve(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
            shot: str, take_number: int | None, note: str | None) -> None:
    """Approve a take of SHOT in the lock (who: git user.name, else $USER). Cuts use approved takes.
    In a campaign, a plain shot id approves the clip in every variant that shares it."""
    project = _open(path, backend, cache_dir, variants)
    name, number = project.approve(shot, take_number, note)
    _decided(project, name, number, "approved", as_json)


@main.command()
@target_options
@click.argument("shot")
@click.option("--take", "take_number", type=click.IntRange(min=1), required=True, help="The take to reject.")
@click.option("--note", help="Why (shown on the review page and in `reelmake status`).")
def reject(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...],
           shot: str, take_number: int, note: str | None) -> None:
    """Reject a take of SHOT in the lock, with a note; rejecting the approved take withdraws the approval."""
    project = _open(path, backend, cache_dir, variants)
    name, number = project.reject(shot, take_number, note)
    _decided(project, name, number, "rejected", as_json)


def _decided(project, name: str, number: int, verb: str, as_json: bool) -> None:
    decision = project.lock.decisions.get(name, {})
    if as_json:
        _emit_json({"shot": name, "take": number, "decision": verb, "lock": str(project.lock.path),
                    "decisions": {name: decision}})
        return
    click.echo(f"{name}: take {number} {verb} (recorded in {project.lock.path.name})")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--cache-dir", type=click.Path(file_okay=False), envvar="REELMAKE_CACHE_DIR",
              help="Workspace (default: .reelmake/ at the project root; env REELMAKE_CACHE_DIR).")
@click.option("--backend", metavar="NAME", help="Review the takes of this backend (e.g. animatic previews).")
@click.option("--variant", "variants", multiple=True, metavar="ID", help="Campaigns: only these variants.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0,
              help="Port on 127.0.0.1 (default: a free one).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write a static, self-contained contact sheet to DIR (index.html, posters, clips) and exit.")
def review(path: str, cache_dir: str | None, backend: str | None, variants: tuple[str, ...], port: int,
           no_browser: bool, export_dir: str | None) -> None:
    """A contact sheet of every shot and take in the browser, served on 127.0.0.1 behind a random token:
    play takes, approve and reject them (j/k: shot, 1–9: take, a: approve), watch a render land.

    Prints one line, `review: URL`, once it listens; Ctrl-C stops it."""
    from pathlib import Path

    from ..review import export, serve

    project = _open(path, backend, cache_dir, variants)
    if export_dir:
        index = export(project, Path(export_dir))
        click.echo(f"wrote {index}")
        return
    serve(project, lambda: _open(path, backend, cache_dir, variants), port=port, open_browser=not no_browser)
