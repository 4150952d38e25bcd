"""`safeguard stamp`: set the database's revision without migrating."""

from __future__ import annotations

import click

from ..operations import stamp as stamp_
from .base import Cli, command


@command()
@click.argument("revisions", nargs=-1, required=True)
def stamp(cli: Cli, revisions: tuple[str, ...]) -> None:
    """Set the database's revision to REVISIONS without running migrations (as
    `alembic stamp`), under the lock and recorded in the journal."""
    state = stamp_.stamp(cli.settings(), revisions, report=cli.say)
    if cli.json:
        cli.emit({"database": state.display_url, "heads": list(state.heads)})


COMMANDS = (stamp,)
