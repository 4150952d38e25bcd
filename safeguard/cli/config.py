"""`safeguard config`: the effective configuration, and where each value came from."""

from __future__ import annotations

import json

import click

from ..operations.settings import effective_config
from .base import Cli, command


@command("config")
@click.option("--no-probe", is_flag=True,
              help="Do not run env.py to find the database (nothing connects).")
def config(cli: Cli, no_probe: bool) -> None:
    """Show the effective configuration: every setting, its value, and the source it
    came from (default, pyproject.toml [tool.safeguard], alembic.ini [safeguard],
    SAFEGUARD_* environment, command line), then the database env.py connects to.
    Passwords are masked."""
    report = effective_config(cli.settings(), probe=not no_probe)
    if cli.json:
        cli.emit(report)
        return
    rows = report["settings"]
    width = max(len(key) for key in rows)
    for key, row in rows.items():
        value = row["value"]
        shown = "-" if value is None else " ".join(value.split()) if isinstance(value, str) \
            else json.dumps(value)
        click.echo(f"{key:<{width}}  {shown}  ({row['source']})")
    database = report["database"]
    if database is not None:
        if "error" in database:
            click.echo(f"{'database':<{width}}  not resolved: {database['error']}")
        else:
            heads = ", ".join(database["heads"]) or "base"
            click.echo(f"{'database':<{width}}  {database['url']} at {heads}  (env.py)")


COMMANDS = (config,)
