"""`safeguard plan`: what `safeguard upgrade` would do, touching nothing."""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from ..operations import migrate
from ..plan import Plan
from ..preconditions import Preconditions
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
    planned = migrate.plan(cli.settings(), revision, direction)
    show_plan(cli, planned, planned.lines(detailed=True))


def show_plan(cli: Cli, planned: Plan, lines: list[str], *, say: Callable[[str], Any] = click.echo,
              wrap: Callable[[dict[str, Any]], Any] = lambda doc: doc) -> None:
    """Print ``lines`` (the plan as worded) and the plan's preconditions through ``say``
    (--json: ``wrap`` of the plan's document); exit as the run would be refused when a
    precondition fails, so a CI `plan` fails where the deploy's `upgrade` would."""
    checked = planned.preconditions or Preconditions()
    if cli.json:
        cli.emit(wrap({**planned.to_dict(), "preconditions": checked.to_dict()}))
    else:
        for line in lines + checked.lines():
            say(line)
    if not checked.ok:
        click.echo(f"safeguard: error: the run would be refused: {checked.summary()}", err=True)
        sys.exit(checked.exit_code)


COMMANDS = (plan,)
