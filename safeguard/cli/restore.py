"""`safeguard restore ID`: put a snapshot back."""

from __future__ import annotations

import sys

import click

from .. import api
from ..revisions import format_revs
from .base import Cli, command


@command("restore")
@click.argument("snapshot_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; touch nothing.")
@click.option("--lock-timeout", type=float, metavar="SECONDS",
              help="Wait this long for another guarded operation or backup (default 60).")
def restore(cli: Cli, snapshot_id: str, yes: bool, dry_run: bool, lock_timeout: float | None) -> None:
    """Restore the database to snapshot ID ('latest' for the newest).

    A safety snapshot of the current state is taken first; the snapshot is re-verified
    before use; the Alembic version is re-stamped to the snapshot's; the health checks
    run afterwards. Stop the application first: its open connections would keep
    seeing the old file.
    """
    settings = cli.settings(lock_timeout=lock_timeout)
    if not dry_run and not yes:
        snap = api.show_snapshot(settings, snapshot_id)
        if cli.json or not sys.stdin.isatty():
            raise click.UsageError("restore replaces the database: pass --yes to confirm")
        click.confirm(f"Replace the database with snapshot {snap.id} "
                      f"({format_revs(snap.revisions)}, {snap.created_at})?", abort=True, err=True)
    outcome = api.restore(settings, snapshot_id, dry_run=dry_run, report=cli.say,
                          progress=cli.progress)
    if cli.json:
        cli.emit(outcome.to_dict())


COMMANDS = (restore,)
