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
    verdict with its findings and acknowledgement, and how a failed run would be
    undone: by a snapshot taken first (with the database's size as its cost), or by
    the run's own transaction (PostgreSQL), or not at all (policy never)."""
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
            label = "warning: " if f.kind == "may-fail" else ""
            click.echo(f"      {label}{f.code} {f.message} (line {f.line})")
        for f in c.outside_transaction:
            click.echo(f"      {f.code} {f.message} (line {f.line})")
    if result.snapshot:
        click.echo(f"Undo: snapshot before the first revision, because {result.undo.reason}; "
                   f"about {result.database_size / 1048576:.1f} MiB to copy")
    else:
        click.echo(f"Undo: {result.undo.by} ({result.undo.reason})")


COMMANDS = (plan,)
