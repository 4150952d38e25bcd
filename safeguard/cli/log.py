"""`safeguard log`: the journal, one operation per line with its steps."""

from __future__ import annotations

import click

from ..operations.log import journal
from .base import Cli, command


@command("log")
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="Operations to show.")
def log(cli: Cli, limit: int) -> None:
    """Show the journal: every operation, its steps and its outcome."""
    ops = journal(cli.settings(), limit=limit)
    if cli.json:
        cli.emit({"operations": [{"id": o.id, "kind": o.kind, "begun": o.begun, "steps": o.steps,
                                  "end": o.end} for o in ops]})
        return
    for o in ops:
        outcome = o.end.get("outcome") if o.end else "UNFINISHED (run `safeguard recover`)"
        click.echo(f"{o.begun.get('ts', '?')}  {o.id}  {o.kind:<10} {outcome}")
        for step in o.steps:
            extra = step.get("revision") or step.get("snapshot") or ""
            error = f"  {step['error']}" if step.get("error") else ""
            click.echo(f"    {step.get('ts', '')[11:23]}  {step.get('step', '?'):<16} "
                       f"{step.get('status', '?'):<8} {extra}{error}")


COMMANDS = (log,)
