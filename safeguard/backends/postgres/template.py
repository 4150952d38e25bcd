"""The template strategy: a snapshot is a copy of the database made by the server,
``CREATE DATABASE "D.sg-snap-TOKEN" TEMPLATE D STRATEGY FILE_COPY``.

A file-level copy after a checkpoint: far faster than pg_dump, and exact (planner
statistics included). The price is exclusivity: PostgreSQL refuses to copy a database
anyone is connected to, so this is for deploy windows where the application is
stopped; it is opt-in (``pg_strategy = template``). The copy lives on the server; the
snapshot directory holds only a small marker, ``template.json``, naming it (its
sha256 is the snapshot's checksum). The copy is closed to connections so nothing
changes it; it is dropped when the snapshot is deleted (`discard`).

Restore copies the snapshot database again (to ``D.sg-restoring``) and swaps that in
by rename, so the snapshot survives its own restore: a second restore, or a
`recover` after a crash at any point, still has it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from ... import digest, durable
from ...durable import Progress
from ...errors import RestoreError, SnapshotError
from ...manifest import Payload, Snapshot
from .. import count_mismatches
from . import catalog, databases, names, swap
from .held import HeldDatabase
from .options import Options
from .server import Server, describe, errors_as
from .tools import ClientTools

MARKER = "template.json"


class TemplateStrategy(HeldDatabase):
    """Snapshots kept on the server as template copies."""

    name = "template"
    marker, marker_key, infix = MARKER, "template_database", names.SNAPSHOT
    kind, size_key = "snapshot database", "template_size"

    def __init__(self, server: Server, tools_: ClientTools, options: Options) -> None:
        self.server = server
        self.options = options

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """Copy the database on the server and write the marker naming the copy."""
        source = self.server.database
        now = datetime.now(timezone.utc)
        copy = names.snapshot(source, f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}")
        with errors_as(SnapshotError, f"cannot snapshot {self.server.identity()}"):
            conn = self.server.connect_maintenance()
        with conn:
            with errors_as(SnapshotError, f"cannot snapshot {self.server.identity()}"):
                version = databases.server_version(conn)
                props = databases.read_properties(conn, source)
                try:
                    databases.create_copy(conn, copy, source)
                except psycopg.errors.ObjectInUse as exc:
                    others = swap.sessions(conn, source)
                    raise SnapshotError(
                        f"pg_strategy = template needs {source} to itself, but other sessions "
                        f"are connected ({swap.describe_sessions(others) or 'now gone; retry'}); "
                        "stop them, or use pg_strategy = dump"
                    ) from exc
            try:
                with errors_as(SnapshotError, f"cannot count the rows of {copy}"):
                    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        sql.Identifier(copy),
                        sql.Literal(f"safeguard snapshot of {source}, {now:%Y-%m-%d %H:%M:%S} UTC")))
                    with self.server.connect(copy) as snapshot_conn:
                        counts = catalog.row_counts(snapshot_conn)
                    size = conn.execute("SELECT pg_database_size(%s)", (copy,)).fetchone()[0]
                    databases.allow_connections(conn, copy, False)
                marker = directory / MARKER
                durable.write_json(marker, {"template_database": copy, "database": source,
                                            "created_at": now.isoformat(timespec="seconds")})
            except BaseException:
                _drop_quietly(conn, copy)
                raise
        if progress:
            progress(size)
        return Payload(
            files={MARKER: digest.of_file(marker)},
            size=marker.stat().st_size,
            row_counts=counts,
            extra={
                "strategy": self.name,
                "format": "template",
                "database": source,
                "template_database": copy,
                "template_size": size,
                "server_version": version,
                "database_properties": props.to_dict(),
            },
        )

    def verify(self, directory: Path, snapshot: Snapshot) -> list[str]:
        """The copy exists and its row counts match the manifest."""
        try:
            copy = self.database_of(directory)
        except RestoreError as exc:
            return [str(exc)]
        try:
            with self.server.connect_maintenance() as conn:
                if not databases.exists(conn, copy):
                    return [f"the snapshot database {copy} no longer exists on the server"]
                # Opened only for the count: the snapshot is otherwise closed so that
                # nobody can change it.
                databases.allow_connections(conn, copy, True)
                try:
                    with self.server.connect(copy) as snapshot_conn:
                        counts = catalog.row_counts(snapshot_conn)
                finally:
                    databases.allow_connections(conn, copy, False)
        except psycopg.Error as exc:
            raise RestoreError(f"cannot verify the snapshot database {copy}: {describe(exc)}") from exc
        return count_mismatches(snapshot.row_counts, counts)


def _drop_quietly(conn: psycopg.Connection, name: str) -> None:
    try:
        databases.drop(conn, name)
    except psycopg.Error:
        pass  # a stray copy costs space, not correctness; the error being raised matters more
