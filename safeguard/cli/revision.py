"""`safeguard revision`: Alembic's `revision`, then the new file linted on the spot."""

from __future__ import annotations

import click

from ..operations.lint import new_revision
from .base import Cli, command
from .lint import print_classification


@command()
@click.option("-m", "--message", help="The revision's message.")
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@click.option("--head", default="head", show_default=True, help="The revision to base it on.")
@click.option("--rev-id", help="A revision id instead of a generated one.")
def revision(cli: Cli, message: str | None, autogenerate: bool, head: str, rev_id: str | None) -> None:
    """Create a revision file (as `alembic revision`), then lint it on the spot.

    Autogenerate cannot see renames: it writes a drop and an add, which loses the
    column's data. safeguard warns about that and shows the alter_column to write.
    """
    classified = new_revision(cli.settings(), message, autogenerate=autogenerate,
                                      head=head, rev_id=rev_id)
    if cli.json:
        cli.emit({"revisions": [c.to_dict() for c in classified]})
        return
    for c in classified:
        click.echo(f"Generated {c.path}")
        print_classification(c)
        for f in c.findings:
            if "probable rename" in f.message:
                click.echo(f"WARNING: {f.message}", err=True)


COMMANDS = (revision,)
