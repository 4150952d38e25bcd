"""`safeguard snapshot create|list|show|verify|prune`: the snapshot store."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from ..manifest import Snapshot
from ..operations.beside import BesideCopy
from ..operations.beside import records as beside_records
from ..operations.prune import prune
from ..operations.snapshot import create_snapshot, locate_snapshots, show_snapshot
from ..operations.verify import verify_snapshot
from ..reporting import size_words
from ..retention import in_the_future
from ..revisions import format_revs
from .base import Cli, command


@click.group()
def snapshot() -> None:
    """Create, list, inspect, verify and prune snapshots."""


@command("list")
def snapshot_list(cli: Cli) -> None:
    """List the snapshots in the store, on the remote (when one is set) and kept on
    the server, oldest first, with where each is: local, remote or both, and +server
    for a kept PostgreSQL database (listed from its own marker even when no manifest of
    it is left)."""
    settings = cli.settings()
    listing = locate_snapshots(settings, remote_optional=True)
    copies = beside_records(settings)
    if cli.json:
        cli.emit({**listing.to_dict(), "beside": [copy.to_dict() for copy in copies]})
        return
    for warning in listing.warnings:
        cli.say(f"WARNING: {warning}")
    _list_beside(copies)
    located = listing.located
    if not located:
        click.echo("No snapshots.", err=True)
        return
    click.echo(f"{'ID':<24} {'CREATED (UTC)':<20} {'ENGINE':<10} {'REVISION':<14} {'SIZE':>13}  "
               f"{'WHERE':<12} REASON")
    now = datetime.now(timezone.utc)
    for entry in located:
        s = entry.snapshot
        pin = ((" [safety]" if s.safety else "") + (" [pinned]" if s.pinned else "")
               + (" [kept database]" if s.payload_kind == "kept database" else "")
               + (" [not authenticated]" if s.unauthenticated else "")
               + (" [dated in the future]" if in_the_future(s, now) else ""))
        created = s.created.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{s.id:<24} {created:<20} {s.engine:<10} {s.revision or 'base':<14} "
                   f"{s.size:>13,}  {_where(entry.locations):<12} {s.label or s.reason}{pin}")


def _where(locations: tuple[str, ...]) -> str:
    """local, remote or both; with +server for a database kept on the server."""
    stores = [place for place in locations if place != "server"]
    word = "both" if len(stores) == 2 else (stores[0] if stores else "")
    return "+".join(w for w in (word, "server" if "server" in locations else "") if w)


def _list_beside(copies: list[BesideCopy]) -> None:
    """The snapshots restored beside the live data (`restore ID --beside`), first."""
    if not copies:
        return
    click.echo("Restored beside the live data (drop with `safeguard restore ID --drop-beside`):")
    for copy in copies:
        tables = ", ".join(copy.tables) if copy.tables is not None else "all tables"
        click.echo(f"  {copy.snapshot:<24} {copy.created_at[:19].replace('T', ' '):<20} "
                   f"{copy.size:>13,}  {copy.location} ({tables})")
    click.echo("")


@command("create")
@click.option("--label", metavar="TEXT", help="A name for this snapshot (e.g. pre-deploy).")
@click.option("--pin", is_flag=True, help="Never prune this snapshot.")
@click.option("--lock-timeout", type=float, metavar="SECONDS",
              help="Wait this long for a running migration or backup (default 60).")
def snapshot_create(cli: Cli, label: str | None, pin: bool, lock_timeout: float | None) -> None:
    """Take a verified snapshot of the database now."""
    snap = create_snapshot(cli.settings(lock_timeout=lock_timeout), label=label, pin=pin,
                               reason=f"manual: {label}" if label else "manual",
                               progress=cli.progress, report=cli.say)
    if cli.json:
        cli.emit(snap.to_dict())
    else:
        click.echo(snap.id)


@command("show")
@click.argument("snapshot_id", metavar="ID")
def snapshot_show(cli: Cli, snapshot_id: str) -> None:
    """Show a snapshot's manifest (ID may be 'latest': the newest that is not a safety
    snapshot)."""
    snap = show_snapshot(cli.settings(), snapshot_id)
    if cli.json:
        cli.emit(snap.to_dict())
        return
    rows = [("id", snap.id), ("created", snap.created_at), ("reason", snap.reason),
            ("label", snap.label or "-"), ("pinned", "yes" if snap.pinned else "no"),
            ("safety", "yes (the state a restore replaced)" if snap.safety else "no"),
            ("trusted", "NO: from the remote, not signed by this machine's remote key"
             if snap.unauthenticated else "yes"),
            ("engine", snap.engine), ("database", snap.database),
            ("revision", format_revs(snap.revisions)), ("payload", _payload(snap)),
            ("size", f"{size_words(snap.size)} ({snap.size:,} bytes)"),
            ("compression", snap.compression or "none"), ("sha256", snap.sha256)]
    rows += [(k, str(v)) for k, v in sorted(snap.extra.items())]
    for key, value in rows:
        click.echo(f"{key:<12} {value}")
    click.echo("rows")
    for table, count in sorted(snap.row_counts.items()):
        click.echo(f"  {table:<30} {count:>12,}")


def _payload(snap: Snapshot) -> str:
    """What the payload is, and where it lives when not in the store."""
    if snap.payload_kind == "kept database":
        return (f"kept database {snap.extra.get('kept_database')} on the server (the database "
                "a restore replaced, not a dump)")
    if snap.payload_kind == "template database":
        return f"template database {snap.extra.get('template_database')} on the server"
    return snap.payload_kind


@command("verify")
@click.argument("snapshot_id", metavar="ID")
@click.option("--allow-unauthenticated", is_flag=True,
              help="Verify a snapshot from the remote whose manifest is not signed by this "
                   "machine's remote key (its test restore runs what the bucket holds).")
def snapshot_verify(cli: Cli, snapshot_id: str, allow_unauthenticated: bool) -> None:
    """Check snapshot ID ('latest' for the newest): its checksum, then a test restore
    into a scratch database with an integrity check and row counts against the manifest."""
    result = verify_snapshot(cli.settings(), snapshot_id, progress=cli.progress,
                             allow_unauthenticated=allow_unauthenticated)
    if cli.json:
        cli.emit(result.to_dict())
    else:
        click.echo(f"{result.snapshot.id}: ok (checksum, test restore, integrity, row counts)")


@command("prune")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
def snapshot_prune(cli: Cli, dry_run: bool) -> None:
    """Delete the snapshots no retention rule keeps (keep_last, keep_daily,
    keep_weekly, keep_monthly, max_age_days; pinned snapshots and the one before the
    last migration are always kept)."""
    decisions = prune(cli.settings(), dry_run=dry_run, report=cli.say)
    if cli.json:
        cli.emit({"dry_run": dry_run, "decisions": [d.to_dict() for d in decisions]})
        return
    for d in decisions:
        verb = "keep " if d.keep else ("would delete" if dry_run else "deleted")
        click.echo(f"{verb:<12} {d.snapshot.id}  {', '.join(d.reasons)}")


for _cmd in (snapshot_list, snapshot_create, snapshot_show, snapshot_verify, snapshot_prune):
    snapshot.add_command(_cmd)


COMMANDS = (snapshot,)
