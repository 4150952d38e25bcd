"""`safeguard rehearse`: the upgrade on a throwaway copy of the database first."""

from __future__ import annotations

import click

from ..operations import rehearse as rehearse_
from .base import Cli, command


@command()
@click.argument("revision", default="head")
@click.option("--from-snapshot", metavar="ID",
              help="Rehearse on this snapshot of the database instead of a fresh copy.")
@click.option("--lock-timeout", type=float, metavar="SECONDS",
              help="Wait this long for another guarded operation before copying (default 60).")
def rehearse(cli: Cli, revision: str, from_snapshot: str | None, lock_timeout: float | None) -> None:
    """Rehearse `upgrade REVISION` (default: head) on a private copy of the database:
    every revision and health check runs on the copy, which is then dropped; the
    database itself is only read.

    Reports, per revision, whether it passed (or its error), its time on this data,
    its row-count changes and (PostgreSQL) the tables it held ACCESS EXCLUSIVE; then
    the checks and a verdict. Exits 0 only when the upgrade would succeed (12 when it
    would fail).
    """
    result = rehearse_.rehearse(cli.settings(lock_timeout=lock_timeout), revision,
                          from_snapshot=from_snapshot, report=cli.say, progress=cli.progress)
    if cli.json:
        cli.emit(result.to_dict())


COMMANDS = (rehearse,)
