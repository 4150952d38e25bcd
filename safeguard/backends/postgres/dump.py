"""The dump strategy: pg_dump into the snapshot directory, pg_restore out of it.

Consistency: the row counts of the manifest and the dump must describe the same
instant even while the application writes. So one REPEATABLE READ transaction exports
its snapshot (``pg_export_snapshot``), counts every table, and stays open while
pg_dump runs with ``--snapshot`` set to it: the counts and the dump see the same
committed state, and the transaction's ACCESS SHARE locks keep every table's
definition stable until pg_dump has its own. pg_dump waits at most
``pg_lock_wait_timeout`` for a lock (a migration holding ACCESS EXCLUSIVE makes the
snapshot fail, never hang).

Formats: ``custom`` (one compressed file, database.dump) or ``directory``
(database.dir/, written by ``pg_jobs`` parallel workers), chosen by ``pg_format`` or,
for ``auto``, by the database's size against ``pg_directory_threshold_mb``.

Restore: into a new empty database (template0, the original's encoding and locale)
with ``pg_restore --exit-on-error``; any non-zero exit is a failed restore. Then
ANALYZE, because a restored database has no planner statistics and the application
should not meet a slow plan on its first query after the rollback.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import psycopg
from psycopg import sql

from ... import digest
from ...durable import Progress
from ...errors import RestoreError, SnapshotError
from ...manifest import Payload, Snapshot
from .. import count_mismatches
from . import catalog, databases, names, tools
from .databases import DatabaseProperties
from .options import Options
from .server import Server, describe, errors_as
from .tools import ClientTools

log = logging.getLogger(__name__)

PAYLOADS = {"custom": "database.dump", "directory": "database.dir"}


class DumpStrategy:
    """Snapshots taken by pg_dump."""

    name = "dump"

    def __init__(self, server: Server, tools_: ClientTools, options: Options) -> None:
        self.server = server
        self.tools = tools_
        self.options = options

    # -- snapshot ----------------------------------------------------------------

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """pg_dump the committed state, counted in the same snapshot."""
        identity = self.server.identity()
        with errors_as(SnapshotError, f"cannot snapshot {identity}"):
            conn = self.server.connect()
        with conn:
            major, version = databases.server_major(conn), databases.server_version(conn)
            # Checked before a byte is written: an older pg_dump would refuse, or miss
            # objects it does not know; an older pg_restore could not read the dump back.
            pg_dump = self.tools.require("pg_dump", server_major=major, server_version=version)
            pg_restore = self.tools.require("pg_restore", server_major=major, server_version=version)
            with errors_as(SnapshotError, f"cannot snapshot {identity}"):
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                props = databases.read_properties(conn, self.server.database)
                owned = databases.extensions(conn)
                conn.autocommit = False
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                if self.options.lock_wait_timeout > 0:
                    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(_ms(self.options.lock_wait_timeout))))
                exported = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
                counts = catalog.row_counts(conn)
            fmt = self.options.dump_format(size)
            target = directory / PAYLOADS[fmt]
            argv = [pg_dump.path, f"--format={fmt}", f"--file={target}", "--no-password",
                    f"--compress={self.options.compress}", f"--snapshot={exported}",
                    f"--dbname={self.server.conninfo()}"]
            if self.options.lock_wait_timeout > 0:
                argv.append(f"--lock-wait-timeout={_ms(self.options.lock_wait_timeout)}")
            if fmt == "directory":
                argv.append(f"--jobs={self.options.jobs}")
            with self.server.client_environment() as env:
                tools.run(argv, env=env, error=SnapshotError, what=f"pg_dump of {identity}",
                          measure=lambda: tools.tree_size(target), progress=progress)
            conn.rollback()  # only now may the tables change shape: pg_dump is done
        files = _hash_payload(directory, target)
        return Payload(
            files=files,
            size=tools.tree_size(target),
            row_counts=counts,
            extra={
                "strategy": self.name,
                "format": fmt,
                "compress": self.options.compress,
                "jobs": self.options.jobs if fmt == "directory" else 1,
                "database": self.server.database,
                "server_version": version,
                "pg_dump_version": pg_dump.version,
                "pg_restore_version": pg_restore.version,
                "database_size": size,
                "database_properties": props.to_dict(),
                "extensions": [asdict(e) for e in owned],
            },
        )

    # -- reading it back ---------------------------------------------------------

    def verify(self, directory: Path, snapshot: Snapshot) -> list[str]:
        """Restore into a scratch database, count its rows against the manifest, drop it."""
        pg_restore = self._pg_restore()  # missing: could not check, which is an error
        try:
            payload = _payload_path(directory, snapshot)
            with self.server.client_environment() as env:
                tools.run([pg_restore.path, "--list", str(payload)], env=env,
                          error=RestoreError, what="reading the dump's table of contents")
        except RestoreError as exc:
            return [f"the dump cannot be read: {exc}"]
        scratch = names.verify(_database_of(snapshot, self.server))
        try:
            with self.server.connect_maintenance() as conn:
                databases.drop(conn, scratch)
                try:
                    self.materialize(conn, directory, snapshot, scratch, analyze=False,
                                     owners=False)
                except RestoreError as exc:
                    return [f"the dump does not restore: {exc}"]
                try:
                    with self.server.connect(scratch) as copy:
                        counts = catalog.row_counts(copy)
                finally:
                    databases.drop(conn, scratch)
        except psycopg.Error as exc:
            raise RestoreError(f"cannot verify the dump on {self.server.identity()}: "
                               f"{describe(exc)}") from exc
        return count_mismatches(snapshot.row_counts, counts)

    def materialize(self, conn: psycopg.Connection, directory: Path, snapshot: Snapshot,
                    target: str, *, progress: Progress = None, analyze: bool = True,
                    owners: bool = True) -> None:
        """pg_restore the dump into a new database ``target``; with ``owners``, each
        extension created as its owner where this role may, and a warning for each it
        may not (a scratch copy to verify needs neither)."""
        payload = _payload_path(directory, snapshot)
        extra = snapshot.extra
        pg_restore = self._pg_restore()
        dumped_by = str(extra.get("pg_dump_version", "0"))
        if pg_restore.major < int(dumped_by.split(".")[0]):
            raise RestoreError(f"pg_restore {pg_restore.version} cannot read a dump written by "
                               f"pg_dump {dumped_by}; set pg_bindir to a newer PostgreSQL")
        props = _properties(conn, snapshot, self.server)
        wanted = tuple(databases.Extension(**e) for e in extra.get("extensions") or ()) if owners else ()
        with errors_as(RestoreError, f"cannot create the database {target}"):
            databases.create_empty(conn, target, props)
        try:
            if wanted:
                with errors_as(RestoreError, f"cannot prepare the extensions of {target}"):
                    with self.server.connect(target) as fresh:
                        databases.create_extensions_as_owners(fresh, target, wanted)
            argv = [pg_restore.path, "--exit-on-error", "--no-password",
                    f"--jobs={self.options.jobs}", f"--dbname={self.server.conninfo(target)}",
                    str(payload)]
            with self.server.client_environment() as env:
                tools.run(argv, env=env, error=RestoreError, what=f"pg_restore into {target}")
            if wanted:
                with errors_as(RestoreError, f"cannot read the extensions of {target}"):
                    with self.server.connect(target) as restored:
                        for lost in databases.extension_owners_lost(restored, wanted):
                            # Printed with the restore's report, as a SQLite file's lost owner is.
                            log.warning("%s", lost)
            if analyze:
                with errors_as(RestoreError, f"cannot ANALYZE {target}"):
                    with self.server.connect(target) as restored:
                        restored.execute("ANALYZE")
        except BaseException:
            _drop_quietly(conn, target)
            raise
        if progress:
            progress(int(snapshot.size or 0))

    def discard(self, directory: Path, snapshot: Snapshot) -> None:
        """Nothing outside the snapshot directory."""

    def _pg_restore(self) -> tools.Tool:
        return self.tools.get("pg_restore")


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def _payload_path(directory: Path, snapshot: Snapshot) -> Path:
    fmt = snapshot.extra.get("format")
    if fmt not in PAYLOADS:
        raise RestoreError(f"snapshot {snapshot.id} has no pg_dump payload (format {fmt!r})")
    return directory / PAYLOADS[fmt]


def _database_of(snapshot: Snapshot, server: Server) -> str:
    return snapshot.extra.get("database") or server.database


def _properties(conn: psycopg.Connection, snapshot: Snapshot, server: Server) -> DatabaseProperties:
    """The properties recorded with the snapshot; else (an old snapshot) the live ones."""
    recorded = snapshot.extra.get("database_properties")
    if recorded:
        return DatabaseProperties.from_dict(recorded)
    with errors_as(RestoreError, f"cannot read the properties of {server.database}"):
        return databases.read_properties(conn, server.database)


def _hash_payload(directory: Path, target: Path) -> dict[str, str]:
    """The digest of every payload file, keyed by its path relative to ``directory``."""
    paths = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): digest.of_file(p) for p in paths}


def _drop_quietly(conn: psycopg.Connection, name: str) -> None:
    try:
        databases.drop(conn, name)
    except psycopg.Error:
        pass  # left for the next restore, which drops it first (see swap.finish_interrupted)
