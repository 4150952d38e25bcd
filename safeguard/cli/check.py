"""`safeguard check`: the health checks, against the database as it is now."""

from __future__ import annotations

import sys

import click

from ..operations import check as check_
from ..preconditions import Preconditions
from .base import Cli, command


@command()
@click.option("--full", is_flag=True,
              help="The full integrity check of the whole database (SQLite integrity_check, "
                   "about 3 s/GiB; PostgreSQL: every table read) instead of the quick one.")
def check(cli: Cli, full: bool) -> None:
    """Run the health checks now: integrity, revision, drift against the models, the
    application's smoke check, and the team's own SQL and Python checks. Exits 7 when
    any check fails or cannot run.

    Then what a snapshot and its restore need (the store's room, client tools, the
    role's privileges, the remote): when one is missing, exits as a guarded run would
    be refused (3, or 13 for the remote)."""
    report = check_.check(cli.settings(integrity="full" if full else None))
    checked = report.preconditions or Preconditions()
    if cli.json:
        cli.emit(report.to_dict())
    else:
        width = max((len(r.name) for r in report.results), default=0)
        for r in report.results:
            click.echo(f"{r.status.upper():<8} {r.name:<{width}} {r.duration * 1000:8.1f} ms  {r.detail}")
        for line in checked.lines():
            click.echo(line)
    if not report.ok:
        if not cli.json:
            click.echo(f"safeguard: error: {report.summary()}", err=True)
        sys.exit(7)
    if not checked.ok:
        click.echo(f"safeguard: error: a guarded run would be refused: {checked.summary()}", err=True)
        sys.exit(checked.exit_code)


COMMANDS = (check,)
