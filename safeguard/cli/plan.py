"""`safeguard plan`: what `safeguard upgrade` would do, touching nothing."""

from __future__ import annotations

import click

from .. import api
from ..revisions import format_revs
from .base import Cli, command


@command(context_settings={"ignore_unknown_options": True})
@click.argument("revision", default="head")
@click.option("--downgrade", is_flag=True, help="Plan a downgrade to REVISION instead of an upgrade.")
def plan(cli: Cli, revision: str, downgrade: bool) -> None:
    """Show what `safeguard upgrade REVISION` would do: the pending revisions, each
    verdict with its findings and acknowledgement, and whether and where a snapshot
    would be taken (with the database's size as its cost)."""
    direction = "downgrade" if downgrade else "upgrade"
    result = api.plan(cli.settings(), revision, direction)
    if cli.json:
        cli.emit(result.to_dict())
        return
    click.echo(f"Database {result.database.display_url} at {format_revs(result.database.heads)}; "
               f"{direction} to {revision}: {len(result.steps)} pending revision(s)")
    for p in result.steps:
        c = p.classification
        ack = f"  acknowledged: {c.acknowledgement.reason}" if c.acknowledgement else ""
        click.echo(f"  {p.step.arrow:<30} {c.verdict:<12} {p.step.doc}{ack}")
        for f in c.findings:
            click.echo(f"      {f.code} {f.message} (line {f.line})")
    if result.snapshot:
        first = result.first_destructive
        where = f", because {first.step.revision} is {first.classification.verdict}" if first else ""
        click.echo(f"Snapshot: before the first revision{where}; about "
                   f"{result.database_size / 1048576:.1f} MiB to copy")
    else:
        click.echo(f"Snapshot: none ({result.snapshot_reason or 'nothing to do'})")


COMMANDS = (plan,)
