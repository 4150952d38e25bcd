"""`safeguard lint`: the classifier's verdicts on revision files, with no database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import Settings, locate_config
from ..errors import ConfigError, LintFailedError
from ..linting import LintReport
from ..operations import lint as lint_
from .base import Cli, command

if TYPE_CHECKING:
    from ..classify import Classification

#: The engines safeguard runs on (MariaDB is SQLAlchemy's "mysql" dialect).
DIALECTS = click.Choice(["sqlite", "postgresql", "mysql"])


def print_classification(c: Classification, *, verbose: bool = True) -> None:
    """One revision's verdict, then (``verbose``) each finding on its own line."""
    ack = ""
    if c.acknowledgement is not None:
        ack = f"  (acknowledged: {c.acknowledgement.reason})"
    warning = " (may fail on existing data)" if c.may_fail else ""
    click.echo(f"{c.path}: {c.verdict}{warning}{ack}")
    if verbose:
        for f in c.findings:
            label = "warning: " if f.kind == "may-fail" else ""
            resolved = f" ({f.resolution})" if f.resolution else ""
            click.echo(f"  {c.path}:{f.line}: {label}{f.code} {f.message}{resolved}")
        for f in c.outside_transaction:
            click.echo(f"  {c.path}:{f.line}: note: {f.code} {f.message}")


@command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True,
              help="Exit 11 if any destructive or unknown revision is not acknowledged (a CI gate).")
@click.option("--strict-may-fail", is_flag=True,
              help="As --strict, and also exit 11 if a revision that may fail on existing data "
                   "(MF101, MF103, MF104, MF105) is not acknowledged.")
@click.option("--dialect", type=DIALECTS, help="Judge only the branches this dialect takes.")
@click.option("--downgrade", is_flag=True, help="Classify downgrade() instead of upgrade().")
def lint(cli: Cli, paths: tuple[Path, ...], strict: bool, strict_may_fail: bool,
         dialect: str | None, downgrade: bool) -> None:
    """Classify revision files as safe, destructive or unknown, with no database.

    Destructive means it can lose or rewrite existing data (DS1xx, BC1xx, TC101).
    MF101, MF103, MF104 and MF105 only predict that it may fail on existing data: they
    are warnings and leave the verdict alone (a failed run is undone either way).

    PATHS are files or directories (default: the project's versions directory). An
    author acknowledges a reviewed revision in the file itself:

        safeguard = {"destructive": True, "reason": "drops the legacy fax column"}

    A project declares what its own helpers do once, in lint_known (see `safeguard
    config`); the project's settings apply whenever its configuration is found.
    """
    try:
        report = lint_.lint(paths, settings=_settings(cli, paths), dialect=dialect,
                            strict=strict, strict_may_fail=strict_may_fail,
                            direction="downgrade" if downgrade else "upgrade")
    except LintFailedError as exc:
        # A CI log must show why the gate failed: the listing first, then the error line
        # (under --json the report rides in the error's document).
        if not cli.json and isinstance(exc.report, LintReport):
            print_report(exc.report)
        raise
    if cli.json:
        cli.emit(report.to_dict())
        return
    print_report(report)


def print_report(report: LintReport) -> None:
    """Every revision's verdict (the findings of those that are not plainly safe), then
    the counts."""
    for c in report.classifications:
        print_classification(c, verbose=c.verdict != "safe" or bool(c.findings)
                             or bool(c.outside_transaction))
    counts = {v: sum(c.verdict == v for c in report.classifications)
              for v in ("safe", "destructive", "unknown")}
    may_fail = sum(c.may_fail for c in report.classifications)
    click.echo(f"{len(report.classifications)} revision(s): {counts['safe']} safe, "
               f"{counts['destructive']} destructive, {counts['unknown']} unknown; "
               f"{may_fail} may fail on existing data", err=True)


def _settings(cli: Cli, paths: tuple[Path, ...]) -> Settings | None:
    """The project's settings; with PATHS and no project configuration to be found
    (files linted outside any project), none."""
    if paths and cli.config is None:
        try:
            locate_config()
        except ConfigError:
            return None
    return cli.settings()


COMMANDS = (lint,)
