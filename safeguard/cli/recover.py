"""`safeguard recover`: finish (or abandon) what a crash interrupted."""

from __future__ import annotations

import sys

import click

from ..operations import recover as recover_
from ..revisions import format_revs
from .base import Cli, command


@command("recover")
@click.option("--abandon", is_flag=True,
              help="Close the unfinished operation without touching the database, when "
                   "recovery itself cannot finish (e.g. its snapshot is damaged).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (--abandon).")
def recover(cli: Cli, abandon: bool, yes: bool) -> None:
    """Finish an operation a crash interrupted: restore its snapshot, or confirm the
    state the database is in. The journal says which."""
    if abandon and not yes:
        if cli.json or not sys.stdin.isatty():
            raise click.UsageError("--abandon leaves the database as it is, unrecovered: "
                                   "pass --yes to confirm")
        click.confirm("Close the unfinished operation(s) and leave the database as it is?",
                      abort=True, err=True)
    done = recover_.recover(cli.settings(), abandon=abandon, report=cli.say)
    if cli.json:
        cli.emit({"recovered": [r.to_dict() for r in done]})
        return
    if not done:
        click.echo("Nothing to recover: every operation in the journal finished.", err=True)
    for r in done:
        click.echo(f"{r.operation} ({r.kind}): {r.action}: {r.detail}; at {format_revs(r.heads)}")


COMMANDS = (recover,)
