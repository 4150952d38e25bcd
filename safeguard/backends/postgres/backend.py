"""PostgresBackend: one PostgreSQL database behind the Backend protocol."""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, ContextManager, Mapping, Sequence

import psycopg
from sqlalchemy.engine import URL

from ...durable import Progress
from ...errors import ConfigError, RefusedError, RestoreError
from ...footprint import Schema
from .. import Payload, TableProgress
from . import catalog, databases, names, swap
from .advisory import advisory_lock
from .dump import DumpStrategy
from .options import Options
from .server import APPLICATION_NAME, Server, describe, errors_as
from .strategy import Strategy
from .template import TemplateStrategy
from .tools import ClientTools

if TYPE_CHECKING:
    from ...config import Settings

STRATEGIES: dict[str, type] = {"dump": DumpStrategy, "template": TemplateStrategy}


class PostgresBackend:
    """A PostgreSQL database. Constructing one never connects (it also validates URLs)."""

    engine = "postgresql"
    #: pg_restore reads the dump as it is; the store re-hashes it first.
    proves_payload_on_restore = False
    #: pg_restore rebuilds every index and constraint; the catalog checks are cheap.
    restore_proof = None

    def __init__(self, url: URL, settings: "Settings | None" = None) -> None:
        self.server = Server.from_url(url)
        self.options = Options.from_settings(settings)
        self.tools = ClientTools(self.options.bindir)
        # The project's env.py connects through libpq too: under this process's name
        # (not one inherited from a parent), a migration statement the server goes on
        # running after a crash can be found, and ended, by `recover`.
        os.environ["PGAPPNAME"] = APPLICATION_NAME

    # -- facts -------------------------------------------------------------------

    def identity(self) -> str:
        """``host:port/dbname``; never the user's password."""
        return self.server.identity()

    def exists(self) -> bool:
        """Whether the database exists on the server."""
        with errors_as(RefusedError, f"cannot reach {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                return databases.exists(conn, self.server.database)

    def size(self) -> int:
        """``pg_database_size``, in bytes."""
        with self._connection() as conn:
            return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def row_counts(self, tables: Collection[str] | None = None) -> dict[str, int]:
        """Exact rows per table of every non-system schema (``table`` in public,
        ``schema.table`` elsewhere; of ``tables`` only, when given), counted in one
        snapshot."""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return catalog.row_counts(conn, tables)
            finally:
                conn.execute("ROLLBACK")

    def schema(self) -> Schema:
        """Each table's definition, foreign keys and triggers, from the catalogs."""
        with self._connection() as conn:
            return catalog.schema(conn)

    def integrity_problems(self, *, quick: bool = False, tables: Collection[str] | None = None,
                           progress: TableProgress = None) -> list[str]:
        """NOT VALID constraints, invalid indexes, an unreadable catalog; unless
        ``quick``, unreadable tables (and damaged B-trees where amcheck is installed);
        of ``tables`` only, when given."""
        with self._connection() as conn:
            return catalog.integrity_problems(conn, quick=quick, only=tables, progress=progress)

    def session_lock(self, timeout: float) -> ContextManager[None]:
        """The advisory lock of this database, held for the whole guarded operation."""
        return advisory_lock(self.server, timeout=timeout)

    def close(self) -> None:
        """Nothing to release: connections are opened and closed per call (a database
        with safeguard still connected to it could be neither copied nor renamed)."""

    def session_of(self, dbapi_connection: Any) -> int | None:
        """The backend pid of a psycopg (3 or 2) connection; None for other drivers."""
        info = getattr(dbapi_connection, "info", None)
        pid = getattr(info, "backend_pid", None)  # psycopg 3
        if pid is None and hasattr(dbapi_connection, "get_backend_pid"):
            pid = dbapi_connection.get_backend_pid()  # psycopg2
        return int(pid) if pid else None

    def end_sessions(self, sessions: Sequence[int]) -> None:
        """Terminate the given backends and wait (up to 10 s) until they are gone: a
        stopped migration's session must not hold its locks into the restore."""
        with errors_as(RestoreError, f"cannot end the stopped migration's sessions on {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                swap.terminate(conn, list(sessions), timeout=self.options.sessions.timeout)

    def preflight(self) -> None:
        """Refuse now, before anything is written, what would make a snapshot fail:
        an unreachable server, a missing pg_dump/pg_restore, or one older than the server."""
        if self.options.strategy == "template":
            return
        with self._connection() as conn:
            major = databases.server_major(conn)
            version = conn.info.parameter_status("server_version").split()[0]
        for tool in ("pg_dump", "pg_restore"):
            self.tools.require(tool, server_major=major, server_version=version)

    # -- snapshot ----------------------------------------------------------------

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """A consistent snapshot by the configured strategy (pg_strategy)."""
        return self._strategy(self.options.strategy).snapshot(directory, progress=progress)

    def verify_payload(self, directory: Path, manifest: Mapping[str, Any], *,
                       progress: Progress = None) -> list[str]:
        """Read the snapshot back as a database (dump: a scratch restore) and compare
        its row counts with the manifest's."""
        return self._strategy_of(manifest).verify(directory, manifest)

    def discard(self, directory: Path, manifest: Mapping[str, Any]) -> None:
        """Release what a snapshot holds outside its directory (a template copy)."""
        self._strategy_of(manifest).discard(directory, manifest)

    # -- restore -----------------------------------------------------------------

    def restore(self, directory: Path, manifest: Mapping[str, Any], *,
                progress: Progress = None) -> None:
        """Rebuild the snapshot beside the live database, then swap it in by rename
        (see swap.py): what the failed migration created is dropped with the old
        database, and the live one is untouched until the copy is complete."""
        strategy = self._strategy_of(manifest)
        live = self.server.database
        staging, ready = names.restoring(live), names.ready(live)
        with errors_as(RestoreError, f"cannot restore {self.identity()}"):
            conn = self.server.connect_maintenance()
        with closing(conn):
            with errors_as(RestoreError, f"cannot restore {self.identity()}"):
                swap.finish_interrupted(conn, live)
                strategy.materialize(conn, directory, manifest, staging, progress=progress)
                try:
                    databases.apply_properties(conn, staging, _properties(manifest, conn, live))
                    databases.rename(conn, staging, ready)
                    swap.swap_in(conn, live, ready, self.options.sessions)
                except BaseException:
                    _abandon(conn, live, staging, ready)
                    raise

    def recover(self, runners: Sequence[int] = ()) -> str | None:
        """End what the crashed processes ``runners`` left running on the server, then
        finish or undo a restore they interrupted (see swap.py); what was done, or None
        if there was nothing to do."""
        with errors_as(RestoreError, f"cannot recover {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                done = [swap.end_orphans(conn, runners, timeout=self.options.sessions.timeout),
                        swap.finish_interrupted(conn, self.server.database)]
        return "; ".join(d for d in done if d) or None

    # -- helpers -----------------------------------------------------------------

    def _strategy(self, name: str) -> Strategy:
        try:
            cls = STRATEGIES[name]
        except KeyError:
            raise ConfigError(f"unknown pg_strategy {name!r} (dump or template)") from None
        return cls(self.server, self.tools, self.options)

    def _strategy_of(self, manifest: Mapping[str, Any]) -> Strategy:
        """The strategy that took the snapshot, whatever the settings say now."""
        name = manifest.get("extra", {}).get("strategy")
        if name not in STRATEGIES:
            raise RestoreError(f"snapshot {manifest.get('id')} does not say how it was taken "
                               f"(extra.strategy = {name!r})")
        return self._strategy(name)

    def _connection(self) -> ContextManager[psycopg.Connection]:
        """A connection to the database itself, with connection errors translated."""
        try:
            return closing(self.server.connect())
        except psycopg.Error as exc:
            raise RefusedError(f"cannot connect to {self.identity()}: {describe(exc)}") from exc


def _properties(manifest: Mapping[str, Any], conn: psycopg.Connection,
                live: str) -> databases.DatabaseProperties:
    recorded = manifest.get("extra", {}).get("database_properties")
    if recorded:
        return databases.DatabaseProperties.from_dict(recorded)
    return databases.read_properties(conn, live)


def _abandon(conn: psycopg.Connection, live: str, staging: str, ready: str) -> None:
    """After a failed restore: drop the copies, but only while the live database still
    exists (if the swap stopped between its renames, the ready copy is the only
    complete database, and `recover` finishes the swap)."""
    try:
        if databases.exists(conn, live):
            databases.drop(conn, staging)
            databases.drop(conn, ready)
    except psycopg.Error:
        pass  # the restore's own error is the one to report; recover cleans up
