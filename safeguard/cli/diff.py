"""`safeguard diff ID`: the snapshot against the live database, table by table."""

from __future__ import annotations

import click

from ..comparison import ROWS_LIMIT
from ..operations.diff import diff as diff_
from .base import Cli, command


@command("diff")
@click.argument("snapshot_id", metavar="ID")
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="Compare this table only (repeat for more).")
@click.option("--rows", is_flag=True,
              help=f"List the primary keys of the rows that differ (up to {ROWS_LIMIT:,} of each kind per table).")
@click.option("--lock-timeout", type=float, metavar="SECONDS",
              help="Wait this long for another guarded operation (default 60).")
def diff(cli: Cli, snapshot_id: str, tables: tuple[str, ...], rows: bool,
         lock_timeout: float | None) -> None:
    """Show what snapshot ID holds that the live database does not, and the reverse:
    per table, tables and columns gone or added, rows on each side, and rows only in
    one side or changed, by primary key.

    The database compares them itself, on a copy of the snapshot beside the live data
    (the one `restore ID --beside` made, else one of its own, dropped afterwards); the
    live tables are only read.
    """
    found = diff_(cli.settings(lock_timeout=lock_timeout), snapshot_id, tables=tables or None,
                  rows=rows, report=cli.say, progress=cli.progress)
    if cli.json:
        cli.emit(found.to_dict())
        return
    for line in found.lines():
        click.echo(line)


COMMANDS = (diff,)
