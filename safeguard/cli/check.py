"""`safeguard check`: the health checks, against the database as it is now."""

from __future__ import annotations

import sys

import click

from ..operations import check as check_
from .base import Cli, command


@command()
@click.option("--full", is_flag=True,
              help="The full integrity check of the whole database (SQLite integrity_check, "
                   "about 3 s/GiB; PostgreSQL: every table read) instead of the quick one.")
def check(cli: Cli, full: bool) -> None:
    """Run the health checks now: integrity, revision, drift against the models, the
    application's smoke check, and the team's own SQL and Python checks. Exits 7 when
    any check fails or cannot run."""
    report = check_.check(cli.settings(integrity="full" if full else None))
    if cli.json:
        cli.emit(report.to_dict())
    else:
        width = max((len(r.name) for r in report.results), default=0)
        for r in report.results:
            click.echo(f"{r.status.upper():<8} {r.name:<{width}} {r.duration * 1000:8.1f} ms  {r.detail}")
    if not report.ok:
        if not cli.json:
            click.echo(f"safeguard: error: {report.summary()}", err=True)
        sys.exit(7)


COMMANDS = (check,)
