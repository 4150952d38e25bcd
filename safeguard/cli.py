"""The command line: parse, call one library function, print.

Human output goes to stderr as the work happens; `--json` prints one JSON object on
stdout at the end (and nothing else there), so scripts can rely on it. Every error is
one line on stderr and the exit code of its class (see errors.py).
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import click

from . import __version__, api
from .config import POLICIES, Settings, load_settings
from .errors import SafeguardError


@dataclass
class Cli:
    """Global options, shared by every command."""

    config: str = "alembic.ini"
    url: str | None = None
    json: bool = False
    verbosity: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self, **flags: Any) -> Settings:
        return load_settings(self.config, url=self.url, **{**self.overrides, **flags})

    def say(self, line: str) -> None:
        """A progress line for people: stderr, silent under --json or -q."""
        if not self.json and self.verbosity >= 0:
            click.echo(line, err=True)

    def progress(self, label: str, total: int) -> "_Bar | None":
        """A progress bar on a terminal; none for --json, -q or a pipe."""
        if self.json or self.verbosity < 0 or not sys.stderr.isatty() or total <= 0:
            return None
        return _Bar(label, total)

    def emit(self, data: Any) -> None:
        """The one JSON document of a --json run."""
        click.echo(json.dumps(data, indent=2, default=str))


class _Bar:
    def __init__(self, label: str, total: int) -> None:
        self._bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                      show_eta=True, show_percent=True)
        self._bar.__enter__()

    def __call__(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


pass_cli = click.make_pass_decorator(Cli)


def json_option(fn: Callable) -> Callable:
    """`--json` on a command as well as on the group: either place works."""

    @click.option("--json", "json_", is_flag=True, help="Print one JSON object on stdout.")
    @functools.wraps(fn)
    def wrapper(*args: Any, json_: bool, **kwargs: Any) -> Any:
        if json_:
            click.get_current_context().find_object(Cli).json = True
        return fn(*args, **kwargs)

    return wrapper


def handles_errors(fn: Callable) -> Callable:
    """Turn a SafeguardError into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cli = click.get_current_context().find_object(Cli)
        try:
            return fn(*args, **kwargs)
        except SafeguardError as exc:
            if cli.json:
                report = getattr(exc.report, "to_dict", lambda: None)()
                cli.emit({"error": exc.message, "exit_code": exc.exit_code,
                          "kind": type(exc).__name__, "result": report})
            click.echo(f"safeguard: error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("safeguard: interrupted", err=True)
            sys.exit(130)

    return wrapper


def command(group: click.Group, name: str | None = None, **attrs: Any) -> Callable:
    """A subcommand with --json and error handling."""

    def decorate(fn: Callable) -> click.Command:
        return group.command(name, **attrs)(json_option(pass_cli(handles_errors(fn))))

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", default="alembic.ini", show_default=True, metavar="PATH",
              help="The project's alembic.ini (its [safeguard] section configures safeguard).")
@click.option("--url", metavar="URL",
              help="Database URL. Default: DATABASE_URL, else the ini's sqlalchemy.url.")
@click.option("--json", "json_", is_flag=True, help="Print one JSON object on stdout.")
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (and --json output).")
@click.version_option(__version__, prog_name="safeguard")
@click.pass_context
def main(ctx: click.Context, config: str, url: str | None, json_: bool, verbose: int,
         quiet: bool) -> None:
    """Run Alembic migrations with a verified snapshot before anything that can lose
    data, health checks after, and an automatic restore when either fails.

    Use `safeguard upgrade head` where you used `alembic upgrade head`.
    """
    ctx.obj = Cli(config=config, url=url, json=json_, verbosity=-1 if quiet else verbose)


# -- migrations --------------------------------------------------------------------

def migration_options(fn: Callable) -> Callable:
    options = [
        click.option("--policy", type=click.Choice(POLICIES),
                     help="When to snapshot (default from config: destructive)."),
        click.option("--dry-run", is_flag=True, help="Print the plan; touch nothing."),
        click.option("--sql", is_flag=True,
                     help="Print the SQL (Alembic offline mode); touch no database."),
        click.option("--create", is_flag=True,
                     help="Allow starting a new SQLite database file that does not exist yet."),
        click.option("--lock-timeout", type=float, metavar="SECONDS",
                     help="Wait this long for another guarded operation (default 0)."),
        click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@command(main)
@click.argument("revision", default="head")
@migration_options
def upgrade(cli: Cli, revision: str, **options: Any) -> None:
    """Upgrade to REVISION (default: head), with a snapshot first when a pending
    revision can lose data.

    REVISION is anything Alembic accepts: head, heads, a revision id or unique prefix,
    +N for the next N revisions.
    """
    _migrate(cli, revision, "upgrade", **options)


@command(main)
@click.argument("revision")
@migration_options
def downgrade(cli: Cli, revision: str, **options: Any) -> None:
    """Downgrade to REVISION (a revision id, -N, or base), guarded like upgrade."""
    _migrate(cli, revision, "downgrade", **options)


def _migrate(cli: Cli, target: str, direction: str, *, policy: str | None, dry_run: bool,
             sql: bool, create: bool, lock_timeout: float | None, yes: bool) -> None:
    settings = cli.settings(policy=policy, lock_timeout=lock_timeout)
    if sql:
        api.offline_sql(settings, target, direction, sys.stdout)
        return
    if dry_run:
        plan = api.plan(settings, target, direction, create=create, report=cli.say)
        if cli.json:
            cli.emit({"outcome": "dry-run", "plan": plan.to_dict()})
        return
    result = api.migrate(settings, target, direction, create=create, report=cli.say,
                         progress=cli.progress)
    if cli.json:
        cli.emit(result.to_dict())


# -- snapshots ---------------------------------------------------------------------

@main.group()
def snapshot() -> None:
    """Create, list, inspect and verify snapshots."""


@command(snapshot, "list")
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


# -- Alembic's read commands, passed through ----------------------------------------

@command(main)
def current(cli: Cli) -> None:
    """Show the revision(s) the database is at."""
    state = api.current(cli.settings())
    if cli.json:
        cli.emit({"database": state.display_url, "heads": list(state.heads)})
        return
    click.echo(", ".join(state.heads) or "base")


@command(main)
def heads(cli: Cli) -> None:
    """Show the head revision(s) of the scripts."""
    found = api.heads(cli.settings())
    if cli.json:
        cli.emit({"heads": list(found)})
        return
    for head in found:
        click.echo(head)


@command(main)
@click.option("-r", "--rev-range", metavar="[START]:[END]", help="Only this range.")
def history(cli: Cli, rev_range: str | None) -> None:
    """Show the revision history, newest first."""
    entries = api.history(cli.settings(), rev_range)
    if cli.json:
        cli.emit({"revisions": entries})
        return
    for e in entries:
        down = ", ".join(e["down_revisions"]) or "<base>"
        marks = " (head)" if e["is_head"] else ""
        click.echo(f"{down} -> {e['revision']}{marks}, {e['doc']}")


@command(main)
@click.argument("revisions", nargs=-1, required=True)
def stamp(cli: Cli, revisions: tuple[str, ...]) -> None:
    """Set the database's revision without running migrations (as `alembic stamp`)."""
    state = api.stamp(cli.settings(), revisions, report=cli.say)
    if cli.json:
        cli.emit({"database": state.display_url, "heads": list(state.heads)})


def run() -> None:  # pragma: no cover - console entry point
    main(prog_name="safeguard")
