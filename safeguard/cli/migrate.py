"""`safeguard upgrade` and `safeguard downgrade`."""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from ..config import POLICIES
from ..operations import migrate as migrate_
from ..revisions import Direction
from .base import Cli, command


def migration_options(fn: Callable) -> Callable:
    options = [
        click.option("--policy", type=click.Choice(POLICIES),
                     help="When a snapshot is taken. destructive (default): a run with a "
                          "destructive or unknown revision always gets a snapshot first, and so "
                          "does any run its transaction cannot undo (every SQLite run); always: "
                          "every run gets a snapshot first; never: no snapshot and no undo, not "
                          "even before a destructive revision."),
        click.option("--dry-run", is_flag=True, help="Print the plan; touch nothing."),
        click.option("--sql", is_flag=True,
                     help="Print the SQL (Alembic offline mode); touch no database."),
        click.option("--create", is_flag=True,
                     help="Allow starting a new SQLite database file that does not exist yet."),
        click.option("--lock-timeout", type=float, metavar="SECONDS",
                     help="Wait this long for another guarded operation or backup (default 60)."),
        click.option("--timeout", type=float, metavar="SECONDS",
                     help="Stop the run after SECONDS and restore the snapshot (a run with "
                          "a timeout always takes one)."),
        # Accepted, as DESIGN.md's command line promises scripts, and ignored: a guarded
        # run never asks (its undo is the snapshot), so the flag has nothing to confirm.
        click.option("-y", "--yes", is_flag=True, expose_value=False, hidden=True,
                     help="Accepted and ignored: a guarded run never asks."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


# "-1" is a revision here, not an option (as `alembic downgrade -1` accepts it).
RELATIVE_OK = {"ignore_unknown_options": True}


@command(context_settings=RELATIVE_OK)
@click.argument("revision", default="head")
@migration_options
@click.option("--rehearse", is_flag=True,
              help="Rehearse the upgrade on a copy of the database first (see `safeguard "
                   "rehearse`); upgrade only if the rehearsal passed.")
def upgrade(cli: Cli, revision: str, **options: Any) -> None:
    """Upgrade to REVISION (default: head); a failed run is undone (a snapshot taken
    first, or on PostgreSQL the run's own transaction: see `safeguard plan`).

    REVISION is anything Alembic accepts: head, heads, a revision id or unique prefix,
    +N for the next N revisions.
    """
    _migrate(cli, revision, "upgrade", **options)


@command(context_settings=RELATIVE_OK)
@click.argument("revision")
@migration_options
def downgrade(cli: Cli, revision: str, **options: Any) -> None:
    """Downgrade to REVISION (a revision id, -N, or base), guarded like upgrade."""
    _migrate(cli, revision, "downgrade", **options)


def _migrate(cli: Cli, target: str, direction: Direction, *, policy: str | None, dry_run: bool,
             sql: bool, create: bool, lock_timeout: float | None, timeout: float | None,
             rehearse: bool = False) -> None:
    settings = cli.settings(policy=policy, lock_timeout=lock_timeout, timeout=timeout)
    if rehearse and not (sql or dry_run):
        if create:
            raise click.UsageError("--rehearse needs an existing database to copy (not --create)")
        from ..operations.rehearse import rehearse_then_migrate  # only --rehearse loads it

        done = rehearse_then_migrate(settings, target, report=cli.say, progress=cli.progress)
        if cli.json:
            cli.emit(done.to_dict())
        return
    if sql:
        migrate_.offline_sql(settings, target, direction, sys.stdout)
        return
    if dry_run:
        from .plan import show_plan

        # The plan is announced as a run announces it (report=cli.say); its preconditions follow.
        plan = migrate_.plan(settings, target, direction, create=create, report=cli.say)
        show_plan(cli, plan, [], say=cli.say, wrap=lambda doc: {"outcome": "dry-run", "plan": doc})
        return
    result = migrate_.migrate(settings, target, direction, create=create, report=cli.say,
                              progress=cli.progress)
    if cli.json:
        cli.emit(result.to_dict())


COMMANDS = (upgrade, downgrade)
