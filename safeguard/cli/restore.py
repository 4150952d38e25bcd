"""`safeguard restore ID`: put a snapshot back."""

from __future__ import annotations

import sys

import click

from ..operations import restore as restore_
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
def restore(cli: Cli, snapshot_id: str, yes: bool, dry_run: bool, lock_timeout: float | None,
            force: bool, any_database: bool) -> None:
    """Restore the database to snapshot ID ('latest' for the newest that is not a
    safety snapshot).

    ID may be a unique prefix or suffix of a snapshot's id (at least 4 characters, e.g.
    its last six, `restore ef2ccf`), as git takes part of a commit's.

    A safety snapshot of the current state is taken first; the snapshot is re-verified
    before use; the Alembic version is re-stamped to the snapshot's; the health checks
    run afterwards. Stop the application first: while another process has a SQLite
    database open the restore is refused (--force restores anyway).
    """
    settings = cli.settings(lock_timeout=lock_timeout)
    if not dry_run and not yes:
        snap = show_snapshot(settings, snapshot_id)
        if cli.json or not sys.stdin.isatty():
            raise click.UsageError("restore replaces the database: pass --yes to confirm")
        click.confirm(f"Replace the database with snapshot {snap.id} "
                      f"({format_revs(snap.revisions)}, {snap.created_at})?", abort=True, err=True)
    outcome = restore_.restore(settings, snapshot_id, dry_run=dry_run, force=force,
                          any_database=any_database, report=cli.say, progress=cli.progress)
    if cli.json:
        cli.emit(outcome.to_dict())


COMMANDS = (restore,)
