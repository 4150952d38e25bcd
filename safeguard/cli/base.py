"""What every command shares: global options, --json, error handling, progress bars.

Human output goes to stderr as the work happens; `--json` prints one JSON object on
stdout at the end (and nothing else there), so scripts can rely on it. Every error is
one line on stderr and the exit code of its class (see errors.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable

import click

from ..config import Settings, load_settings
from ..errors import SafeguardError


@dataclass
class Cli:
    """Global options, shared by every command."""

    config: str | None = None  # None: found as Alembic finds it
    url: str | None = None
    json: bool = False
    verbosity: int = 0
    #: Where the JSON document goes: the stdout the command started with (see handles_errors).
    out: Any = None

    def settings(self, **flags: Any) -> Settings:
        return load_settings(self.config, url=self.url, **flags)

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
        click.echo(json.dumps(data, indent=2, default=str), file=self.out)


class _Bar:
    def __init__(self, label: str, total: int) -> None:
        self._bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                      show_eta=True, show_percent=True)
        self._bar.__enter__()

    def __call__(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


class EchoHandler(logging.Handler):
    """Log records to the current stderr through click (so in-process runners see them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # logging must never raise into the work
            self.handleError(record)


def configure_logging(verbosity: int) -> None:
    """safeguard's loggers on stderr in Alembic's format: warnings by default, INFO
    with -v, DEBUG with -vv, errors only with -q. Idempotent (in-process runs)."""
    logger = logging.getLogger("safeguard")
    for handler in [h for h in logger.handlers if isinstance(h, EchoHandler)]:
        logger.removeHandler(handler)
    handler = EchoHandler()
    handler.setFormatter(logging.Formatter("%(levelname)-5.5s [%(name)s] %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.ERROR if verbosity < 0 else logging.WARNING if verbosity == 0
                    else logging.INFO if verbosity == 1 else logging.DEBUG)


pass_cli = click.make_pass_decorator(Cli)


def json_option(fn: Callable) -> Callable:
    """`--json` on a command as well as on the group: either place works."""

    @click.option("--json", "json_", is_flag=True, help="Print one JSON object on stdout.")
    @functools.wraps(fn)
    def wrapper(*args: Any, json_: bool, **kwargs: Any) -> Any:
        if json_:
            click.get_current_context().ensure_object(Cli).json = True
        return fn(*args, **kwargs)

    return wrapper


def handles_errors(fn: Callable) -> Callable:
    """Turn a SafeguardError into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cli = click.get_current_context().ensure_object(Cli)
        # Under --json stdout holds the one JSON document: whatever env.py, a revision
        # or a check prints while the command runs goes to stderr.
        cli.out = sys.stdout
        quiet = contextlib.redirect_stdout(sys.stderr) if cli.json else contextlib.nullcontext()
        try:
            with quiet:
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


def command(name: str | None = None, **attrs: Any) -> Callable[[Callable], click.Command]:
    """A safeguard command: --json, the shared Cli object, and error handling."""

    def decorate(fn: Callable) -> click.Command:
        return click.command(name, **attrs)(json_option(pass_cli(handles_errors(fn))))

    return decorate


