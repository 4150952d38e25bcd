"""The command line: parse, call one library function, print.

One module per command (upgrade/downgrade share one, the snapshot subcommands one,
Alembic's read commands one); each calls one public function of `safeguard.api`.
This module builds the `safeguard` group and registers them.
"""

from __future__ import annotations

import click

from .. import __version__
from ..alembic_output import silence_alembic_info
from . import (check, config, history, lint, log, migrate, plan, recover, restore, revision,
               schedule, snapshot, stamp)
from .base import Cli, configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", metavar="PATH",
              help="The project's alembic.ini, or pyproject.toml with [tool.alembic] "
                   "(default: ./alembic.ini, else ./pyproject.toml, as Alembic finds them).")
@click.option("--url", metavar="URL",
              help="Database URL. Default: DATABASE_URL, else the ini's sqlalchemy.url.")
@click.option("--json", "json_", is_flag=True, help="Print one JSON object on stdout.")
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (and --json output).")
@click.version_option(__version__, prog_name="safeguard")
@click.pass_context
def main(ctx: click.Context, config: str | None, url: str | None, json_: bool, verbose: int,
         quiet: bool) -> None:
    """Run Alembic migrations with a verified snapshot before anything that can lose
    data, health checks after, and an automatic restore when either fails.

    Use `safeguard upgrade head` where you used `alembic upgrade head`.
    """
    ctx.obj = Cli(config=config, url=url, json=json_, verbosity=-1 if quiet else verbose)
    configure_logging(ctx.obj.verbosity)
    if quiet:
        silence_alembic_info()


for module in (migrate, plan, lint, revision, check, snapshot, restore, recover, log, schedule,
               config, history, stamp):
    for cmd in module.COMMANDS:
        main.add_command(cmd)
