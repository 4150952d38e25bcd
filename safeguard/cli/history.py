"""Alembic's read commands, passed through: `current`, `heads`, `history`."""

from __future__ import annotations

import click

from ..operations import history as history_
from .base import Cli, command


@command()
def current(cli: Cli) -> None:
    """Show the revision(s) the database is at."""
    state = history_.current(cli.settings())
    if cli.json:
        cli.emit({"database": state.display_url, "heads": list(state.heads)})
        return
    click.echo(", ".join(state.heads) or "base")


@command()
def heads(cli: Cli) -> None:
    """Show the head revision(s) of the scripts."""
    found = history_.heads(cli.settings())
    if cli.json:
        cli.emit({"heads": list(found)})
        return
    for head in found:
        click.echo(head)


@command()
@click.option("-r", "--rev-range", metavar="[START]:[END]", help="Only this range.")
def history(cli: Cli, rev_range: str | None) -> None:
    """Show the revision history, newest first."""
    entries = history_.history(cli.settings(), rev_range)
    if cli.json:
        cli.emit({"revisions": entries})
        return
    for e in entries:
        down = ", ".join(e["down_revisions"]) or "<base>"
        marks = " (head)" if e["is_head"] else ""
        click.echo(f"{down} -> {e['revision']}{marks}, {e['doc']}")


COMMANDS = (current, heads, history)
