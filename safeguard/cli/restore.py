"""`safeguard restore ID`: put a snapshot back."""

from __future__ import annotations

import sys

import click

from ..config import Settings
from ..operations import restore as restore_
from ..operations.diff import what_restore_discards
from ..operations.snapshot import show_snapshot
from ..revisions import format_revs
from .base import Cli, command


@command("restore")
@click.argument("snapshot_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; touch nothing.")
@click.option("--lock-timeout", type=float, metavar="SECONDS",
              help="Wait this long for another guarded operation or backup (default 60).")
@click.option("--force", is_flag=True,
              help="Restore even while other processes have the SQLite database open: "
                   "whatever they commit afterwards goes to the old file and is lost.")
@click.option("--any-database", is_flag=True,
              help="Restore a snapshot taken of another database (another host's SQLite path, "
                   "another server): by default only this database's own snapshots are restored.")
@click.option("--beside", is_flag=True,
              help="Do not replace anything: make the snapshot's tables readable next to the "
                   "live data (a schema of the PostgreSQL database, a database on the MariaDB "
                   "server, a file SQLite attaches) and print the statements that join both "
                   "and copy a lost column or table back.")
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="With --beside: this table only (repeat for more).")
@click.option("--allow-unauthenticated", is_flag=True,
              help="Restore a snapshot from the remote whose manifest is not signed by this "
                   "machine's remote key (none is set, or it does not match): anyone who can "
                   "write the bucket could have put it there.")
@click.option("--drop-beside", is_flag=True,
              help="Drop the copy `--beside` made of snapshot ID.")
def restore(cli: Cli, snapshot_id: str, yes: bool, dry_run: bool, lock_timeout: float | None,
            force: bool, any_database: bool, allow_unauthenticated: bool, beside: bool,
            tables: tuple[str, ...], drop_beside: bool) -> None:
    """Restore the database to snapshot ID ('latest' for the newest that is not a
    safety snapshot).

    ID may be a unique prefix or suffix of a snapshot's id (at least 4 characters, e.g.
    its last six, `restore ef2ccf`), as git takes part of a commit's.

    A safety snapshot of the current state is taken first; the snapshot is re-verified
    before use; the Alembic version is re-stamped to the snapshot's; the health checks
    run afterwards. Stop the application first: while another process has a SQLite
    database open the restore is refused (--force restores anyway).

    Before it asks (and with --dry-run) it says what the restore would discard: per
    table, the rows written since the snapshot. To get lost data back without
    discarding later writes, restore it --beside the live data instead.
    """
    settings = cli.settings(lock_timeout=lock_timeout)
    if tables and not beside:
        raise click.UsageError("--table goes with --beside (a restore replaces the whole database)")
    if beside or drop_beside:
        if beside and drop_beside or dry_run or force or any_database:
            raise click.UsageError("--beside and --drop-beside go alone (with --table for --beside)")
        _beside(cli, settings, snapshot_id, tables, drop=drop_beside)
        return
    discards = None
    if (dry_run or not yes) and not any_database and not (cli.json and not dry_run):
        discards = what_restore_discards(settings, snapshot_id, report=cli.say)
        for line in discards.lines():
            cli.say(line)
    if not dry_run and not yes:
        snap = show_snapshot(settings, snapshot_id)
        if cli.json or not sys.stdin.isatty():
            raise click.UsageError("restore replaces the database: pass --yes to confirm")
        click.confirm(f"Replace the database with snapshot {snap.id} "
                      f"({format_revs(snap.revisions)}, {snap.created_at})?", abort=True, err=True)
    outcome = restore_.restore(settings, snapshot_id, dry_run=dry_run, force=force,
                               any_database=any_database,
                               allow_unauthenticated=allow_unauthenticated, report=cli.say,
                               progress=cli.progress)
    if cli.json:
        cli.emit({**outcome.to_dict(), "discards": discards.to_dict() if discards else None})


def _beside(cli: Cli, settings: Settings, snapshot_id: str, tables: tuple[str, ...], *,
            drop: bool) -> None:
    """`--beside` and `--drop-beside`."""
    from ..operations import beside as beside_

    if drop:
        dropped = beside_.drop_beside(settings, snapshot_id, report=cli.say)
        if cli.json:
            cli.emit({"dropped": dropped.to_dict() if dropped else None})
        return
    made = beside_.restore_beside(settings, snapshot_id, tables=tables or None, report=cli.say,
                                  progress=cli.progress)
    if cli.json:
        cli.emit(made.to_dict())
        return
    for line in made.lines():
        click.echo(line)


COMMANDS = (restore,)
