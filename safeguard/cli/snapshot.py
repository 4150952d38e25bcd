"""`safeguard snapshot ...`: the snapshot store."""

from __future__ import annotations

import click

from .. import api
from .base import Cli, command


@click.group()
def snapshot() -> None:
    """Create, list, inspect, verify and prune snapshots."""


@command("list")
def snapshot_list(cli: Cli) -> None:
    """List the snapshots in the store, oldest first."""
    snapshots = api.list_snapshots(cli.settings())
    if cli.json:
        cli.emit({"snapshots": [s.to_dict() for s in snapshots]})
        return
    if not snapshots:
        click.echo("No snapshots.", err=True)
        return
    click.echo(f"{'ID':<24} {'CREATED (UTC)':<26} {'ENGINE':<7} {'REVISION':<14} {'SIZE':>12}  REASON")
    for s in snapshots:
        click.echo(f"{s.id:<24} {s.created_at:<26} {s.engine:<7} {s.revision or 'base':<14} "
                   f"{s.size:>12,}  {s.label or s.reason}")


snapshot.add_command(snapshot_list)

COMMANDS = (snapshot,)
