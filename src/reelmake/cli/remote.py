"""`reelmake push` and `reelmake pull`: clips to and from the team's remote store, for a CI that renders
and a laptop that cuts. Each clip crosses verified: pushed clips are published clip first, sidecar
last; pulled clips must match their sidecar's sha256."""

from __future__ import annotations

import sys

import click

from .app import EXIT_FAIL, EXIT_OK, _emit_json, _open, main, target_options


def _report(verb: str, transfer, as_json: bool) -> None:
    if as_json:
        _emit_json(transfer.to_json())
    else:
        for shot, error in transfer.errors.items():
            click.echo(click.style(f"failed: {shot}: {error}", fg="red"), err=True)
        for shot in transfer.damaged:
            click.echo(click.style(f"damaged: {shot}: the remote clip does not match its checksum; `reelmake "
                                   "render` renders it again (or fetches it from its task)", fg="red"), err=True)
        for shot in transfer.busy:
            click.echo(f"  {shot}: another machine holds a claim on it; it publishes it")
        parts = [f"{verb} {len(transfer.moved)}", f"{len(transfer.present)} already there"]
        if transfer.missing:
            parts.append(f"{len(transfer.missing)} not rendered anywhere yet")
        click.echo(", ".join(parts))
    sys.exit(EXIT_OK if transfer.ok else EXIT_FAIL)


@main.command()
@target_options
def push(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...]) -> None:
    """Publish the storyboard's clips this machine has to the team's remote store (`remote` in
    reelmake.toml, or REELMAKE_REMOTE). Exit 0, or 1 when any clip could not be published."""
    _report("pushed", _open(path, backend, cache_dir, variants).push(), as_json)


@main.command()
@target_options
def pull(path: str, backend: str | None, cache_dir: str | None, as_json: bool, variants: tuple[str, ...]) -> None:
    """Fetch the storyboard's clips from the team's remote store, each verified by its sha256, so
    `reelmake cut` works here. Exit 0, or 1 when any clip could not be fetched or was damaged."""
    _report("pulled", _open(path, backend, cache_dir, variants).pull(), as_json)
