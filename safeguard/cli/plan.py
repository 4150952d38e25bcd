"""`safeguard plan`: what `safeguard upgrade` would do, touching nothing."""

from __future__ import annotations

import click

from ..operations import migrate
from ..revisions import Direction
from .base import Cli, command


@command(context_settings={"ignore_unknown_options": True})
@click.argument("revision", default="head")
@click.option("--downgrade", is_flag=True, help="Plan a downgrade to REVISION instead of an upgrade.")
def plan(cli: Cli, revision: str, downgrade: bool) -> None:
    """Show what `safeguard upgrade REVISION` would do: the pending revisions, each
    verdict with its findings and acknowledgement, and how a failed run would be
    undone: by a snapshot taken first (with the database's size as its cost), or by
    the run's own transaction (PostgreSQL), or not at all (policy never)."""
    direction: Direction = "downgrade" if downgrade else "upgrade"
    result = migrate.plan(cli.settings(), revision, direction)
    if cli.json:
        cli.emit(result.to_dict())
        return
    for line in result.lines(detailed=True):
        click.echo(line)


COMMANDS = (plan,)
