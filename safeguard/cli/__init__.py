"""The command line: parse, call one library function, print.

One module per command (upgrade/downgrade share one, the snapshot subcommands one,
Alembic's read commands one); each calls one library function (the verbs of
`safeguard.api`, imported from the operation's own module so that a command loads only
what it uses). This module builds the `safeguard` group, which imports a command's
module when the command runs.
"""

from __future__ import annotations

from importlib import import_module

import click

from .. import __version__
from ..alembic_output import silence_alembic_info
from .base import Cli, configure_logging

#: Each command: the module of this package that defines it, and the first sentence of its
#: docstring, which `safeguard --help` lists (tests/test_cli_help.py keeps the two equal).
INDEX: dict[str, tuple[str, str]] = {
    "check": ("check", "Run the health checks now: integrity, revision, drift against the "
                       "models, the application's smoke check, and the team's own SQL and "
                       "Python checks."),
    "config": ("config", "Show the effective configuration: every setting, its value, and the "
                         "source it came from (default, pyproject.toml [tool.safeguard], "
                         "alembic.ini [safeguard], SAFEGUARD_* environment, command line), then "
                         "the database env.py connects to."),
    "current": ("history", "Show the revision(s) the database is at."),
    "diff": ("diff", "Show what snapshot ID holds that the live database does not, and the "
                     "reverse: per table, tables and columns gone or added, rows on each side, "
                     "and rows only in one side or changed, by primary key."),
    "downgrade": ("migrate", "Downgrade to REVISION (a revision id, -N, or base), guarded like "
                             "upgrade."),
    "heads": ("history", "Show the head revision(s) of the scripts."),
    "history": ("history", "Show the revision history, newest first."),
    "lint": ("lint", "Classify revision files as safe, destructive or unknown, with no database."),
    "log": ("log", "Show the journal: every operation, its steps and its outcome."),
    "plan": ("plan", "Show what `safeguard upgrade REVISION` would do: the pending revisions, "
                     "each verdict with its findings and acknowledgement, and how a failed run "
                     "would be undone: by a snapshot taken first (with the database's size as "
                     "its cost), or by the run's own transaction (PostgreSQL), or not at all "
                     "(policy never)."),
    "recover": ("recover", "Finish an operation a crash interrupted: restore its snapshot, or "
                           "confirm the state the database is in."),
    "rehearse": ("rehearse", "Rehearse `upgrade REVISION` (default: head) on a private copy of "
                             "the database: every revision and health check runs on the copy, "
                             "which is then dropped; the database itself is only read."),
    "restore": ("restore", "Restore the database to snapshot ID ('latest' for the newest that "
                           "is not a safety snapshot)."),
    "revision": ("revision", "Create a revision file (as `alembic revision`), then lint it on "
                             "the spot."),
    "schedule": ("schedule", "Take snapshots on a schedule, in the foreground, until SIGTERM or "
                             "SIGINT (which let a running snapshot finish)."),
    "snapshot": ("snapshot", "Create, list, inspect, verify and prune snapshots."),
    "stamp": ("stamp", "Set the database's revision to REVISIONS without running migrations "
                       "(as `alembic stamp`), under the lock and recorded in the journal."),
    "upgrade": ("migrate", "Upgrade to REVISION (default: head); a failed run is undone (a "
                           "snapshot taken first, or on PostgreSQL the run's own transaction: "
                           "see `safeguard plan`)."),
}


class LazyGroup(click.Group):
    """The `safeguard` group, which imports a command's module only when that command is
    resolved: the modules behind the commands import Alembic, SQLAlchemy and the
    classifier (~0.6 s together), which `safeguard --help`, `--version` and every other
    command would otherwise pay for before doing anything."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(INDEX)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            # An unknown name loads every command, for click's "Did you mean ...?".
            wanted = [INDEX[cmd_name]] if cmd_name in INDEX else INDEX.values()
            for module in {module for module, _ in wanted}:
                for cmd in import_module(f"{__name__}.{module}").COMMANDS:
                    self.add_command(cmd)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands, from INDEX (click's own would import every command)."""
        limit = formatter.width - 6 - max(map(len, INDEX))
        with formatter.section("Commands"):
            formatter.write_dl([(name, click.Command(name, help=text).get_short_help_str(limit))
                                for name, (_, text) in sorted(INDEX.items())])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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

