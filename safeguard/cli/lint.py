"""`safeguard lint`, `safeguard plan`, `safeguard revision`: the classifier's verdicts."""

from __future__ import annotations

from pathlib import Path

import click

from .. import api, linting
from ..config import load_settings
from ..project import format_revs
from .base import Cli, command

DIALECTS = click.Choice(["sqlite", "postgresql"])


def _print_classification(c, *, verbose: bool = True) -> None:
    ack = ""
    if c.acknowledgement is not None:
        ack = f"  (acknowledged: {c.acknowledgement.reason})"
    warning = " (may fail on existing data)" if c.may_fail else ""
    click.echo(f"{c.path}: {c.verdict}{warning}{ack}")
    if verbose:
        for f in c.findings:
            label = "warning: " if f.kind == "may-fail" else ""
            click.echo(f"  {c.path}:{f.line}: {label}{f.code} {f.message}")
        for f in c.outside_transaction:
            click.echo(f"  {c.path}:{f.line}: note: {f.code} {f.message}")


@command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True,
              help="Exit 11 if any destructive or unknown revision is not acknowledged (a CI gate).")
@click.option("--strict-may-fail", is_flag=True,
              help="As --strict, and also exit 11 if a revision that may fail on existing data "
                   "(MF101, MF103, MF104) is not acknowledged.")
@click.option("--dialect", type=DIALECTS, help="Judge only the branches this dialect takes.")
@click.option("--downgrade", is_flag=True, help="Classify downgrade() instead of upgrade().")
def lint(cli: Cli, paths: tuple[Path, ...], strict: bool, strict_may_fail: bool,
         dialect: str | None, downgrade: bool) -> None:
    """Classify revision files as safe, destructive or unknown, with no database.

    Destructive means it can lose or rewrite existing data (DS1xx, BC1xx, TC101).
    MF101, MF103 and MF104 only predict that it may fail on existing data: they are
    warnings and leave the verdict alone (a failed run is undone either way).

    PATHS are files or directories (default: the project's versions directory). An
    author acknowledges a reviewed revision in the file itself:

        safeguard = {"destructive": True, "reason": "drops the legacy fax column"}
    """
    targets = list(paths) or linting.script_locations(load_settings(cli.config, url=cli.url))
    report = linting.lint(targets, dialect=dialect, strict=strict, strict_may_fail=strict_may_fail,
                          direction="downgrade" if downgrade else "upgrade")
    if cli.json:
        cli.emit(report.to_dict())
        return
    for c in report.classifications:
        _print_classification(c, verbose=c.verdict != "safe" or c.may_fail
                              or bool(c.outside_transaction))
    counts = {v: sum(c.verdict == v for c in report.classifications)
              for v in ("safe", "destructive", "unknown")}
    may_fail = sum(c.may_fail for c in report.classifications)
    click.echo(f"{len(report.classifications)} revision(s): {counts['safe']} safe, "
               f"{counts['destructive']} destructive, {counts['unknown']} unknown; "
               f"{may_fail} may fail on existing data", err=True)


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
    classified = linting.new_revision(cli.settings(), message, autogenerate=autogenerate,
                                      head=head, rev_id=rev_id)
    if cli.json:
        cli.emit({"revisions": [c.to_dict() for c in classified]})
        return
    for c in classified:
        click.echo(f"Generated {c.path}")
        _print_classification(c)
        for f in c.findings:
            if "probable rename" in f.message:
                click.echo(f"WARNING: {f.message}", err=True)


COMMANDS = (lint, plan, revision)
