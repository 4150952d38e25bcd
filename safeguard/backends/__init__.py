"""Database engines behind one protocol.

A backend knows how to copy one database consistently into a directory of payload
files, put such a copy back, count rows and check integrity. Everything else (the
store, the journal, the guard) is engine-agnostic and talks only to this protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Collection,
    ContextManager,
    Mapping,
    Protocol,
    Sequence,
    runtime_checkable,
)

from sqlalchemy.engine import URL, make_url

from ..durable import Progress
from ..errors import RefusedError, SafeguardError, UnsupportedDatabaseError
from ..manifest import Payload, Snapshot

if TYPE_CHECKING:
    from ..config import Settings
    from ..footprint import Schema

#: Called as ``progress(tables_done, tables_total)`` while a check goes table by table.
TableProgress = Callable[[int, int], None] | None


class Backend(Protocol):
    """One database, as safeguard snapshots and restores it."""

    engine: str
    #: The URL it was made from (its password, if any, never printed: credentials.py).
    url: URL
    #: True when restore() itself checks the payload's sha256 on the way through (one
    #: read of the snapshot); otherwise the store re-hashes it before restore() runs.
    proves_payload_on_restore: bool
    #: What restore() proved of the bytes it put in place that an integrity check
    #: would prove again (the post-restore checks skip it), or None.
    restore_proof: str | None

    def identity(self) -> str:
        """A stable name of this database (file path; host/port/dbname), never a secret."""

    def exists(self) -> bool:
        """Whether the database exists at all."""

    def size(self) -> int:
        """Approximate size in bytes: the cost estimate of a snapshot."""

    def row_counts(self, tables: Collection[str] | None = None, *,
                   connection: Any = None) -> dict[str, int]:
        """Rows per table (of ``tables`` only, when given, those that exist), for
        manifests, data guards and restore verification; on ``connection`` (a driver
        connection), as its open transaction sees them."""

    def schema(self, *, connection: Any = None) -> "Schema":
        """The tables' definitions, foreign keys and triggers (see footprint.py); on
        ``connection`` (a driver connection), as its open transaction sees them."""

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """Write a consistent copy of the committed state into ``directory``."""

    def restore(self, directory: Path, snapshot: Snapshot, *,
                progress: Progress = None,
                swapping: Callable[[], None] = lambda: None) -> Mapping[str, int] | None:
        """Replace the database with the copy in ``directory``. The backend proves the
        copy against the manifest (checksum, integrity, row counts) before it replaces
        anything: a damaged snapshot leaves the live database untouched. ``swapping()``
        is called once, just before the first change to the live database (whatever
        fails before it changed nothing; the journal records it). Returns the row
        counts it verified on the restored data, or None to have them counted."""

    def verify_payload(self, directory: Path, snapshot: Snapshot, *,
                       progress: Progress = None) -> list[str]:
        """Restore the copy in ``directory`` into a scratch database and return the
        problems found there (integrity, row counts against the manifest)."""

    def integrity_problems(self, *, quick: bool = False, tables: Collection[str] | None = None,
                           progress: TableProgress = None, connection: Any = None) -> list[str]:
        """Problems found by the engine's own integrity checks on the live database, or
        on ``tables`` only (with their indexes and foreign keys); on ``connection``: as
        its open transaction sees them."""

    def preflight(self) -> None:
        """Refuse, before anything is journaled or written, what would make a snapshot
        fail (an unreachable server, a missing or too old pg_dump) or its restore, the
        undo of a failed run, impossible: `refuse_blocked` over the two lists below."""

    def snapshot_blockers(self) -> list[str]:
        """What would make a snapshot of this database fail now (missing or too old
        client tools, tables no consistent dump can freeze), each with its fix; changes
        nothing (plan and check report them: preconditions.py)."""

    def restore_blockers(self) -> list[str]:
        """What would keep a snapshot of this database from being restored now by this
        role on this host (PostgreSQL: CREATEDB, extensions only a superuser creates;
        SQLite: no room or no write permission beside the file), each with its fix."""

    def users(self) -> list[str]:
        """Others using the database in a way a restore would silently cut off (SQLite:
        processes with the file open), one description each; none where the engine
        handles them itself (PostgreSQL: pg_sessions)."""

    def local_files(self) -> Sequence[Path]:
        """The files on this machine that a write to the database changes (SQLite: the
        file, its -wal and -journal), or none (a server's): what a rehearsal keeps the
        project's code away from, and proves unchanged (tripwire.py)."""

    def discard(self, directory: Path, snapshot: Snapshot) -> None:
        """Release what a snapshot holds outside its directory, before it is deleted."""

    def recover(self, runners: Sequence[int] = (), sessions: Sequence[int] = ()) -> str | None:
        """End what the crashed processes ``runners`` (pids from the journal) left
        running in the engine (``sessions``: the server sessions their migrations
        opened, as session_of named them in the journal), then finish or undo an
        engine-level step they interrupted (a half-done swap); what was done, or None."""

    def session_lock(self, timeout: float) -> ContextManager[None]:
        """Hold the engine's own lock for one guarded operation (PostgreSQL: an advisory
        lock), on top of the store's file lock; LockBusyError after ``timeout``."""

    def client_environ(self) -> Mapping[str, str]:
        """Environment variables the project's own code connects under while safeguard
        runs it (PostgreSQL: PGAPPNAME, the name `recover` finds sessions by)."""

    def limit_statement_time(self, connection: Any, seconds: float) -> None:
        """Bound each statement on ``connection`` (a SQLAlchemy Connection) to
        ``seconds`` where the engine can (PostgreSQL: statement_timeout)."""

    def session_of(self, dbapi_connection: Any) -> int | None:
        """The server session behind a driver connection (PostgreSQL: the backend pid),
        or None where a process's death ends its sessions (SQLite)."""

    def end_sessions(self, sessions: Sequence[int]) -> None:
        """End sessions a stopped migration left running on the server."""

    def cancel(self, dbapi_connection: Any) -> None:
        """Cancel the statement a driver connection is running, from any thread (an
        interrupted run's, see interruption.py): SQLite interrupts it, PostgreSQL
        cancels the connection's session with pg_cancel_backend."""
    # A rehearsal migrates a private copy of the database; each copy is named by the
    # rehearsal's token, so `recover` can find and drop what a crash left behind.

    def rehearsal_url(self, workdir: Path, token: str) -> URL:
        """Where the copy of rehearsal ``token`` lives (nothing is created); ``workdir``
        is the rehearsal's own directory in the store."""

    def make_rehearsal_copy(self, workdir: Path, token: str, *,
                            snapshot: tuple[Path, Snapshot] | None = None,
                            progress: Progress = None) -> int:
        """Copy the database as it is now (or the snapshot ``snapshot``: its directory
        and manifest) to the rehearsal's URL, without changing the database or its
        sessions; the copy's size in bytes."""

    def drop_rehearsal_copy(self, workdir: Path, token: str) -> bool:
        """Drop the copy and ``workdir``; False if there was nothing left to drop."""

    def rehearsal_tokens(self) -> list[str]:
        """The tokens of the copies of this database that exist outside the store."""

    def lock_watch(self) -> ContextManager[Any]:
        """While the body migrates this database, learn which tables are held ACCESS
        EXCLUSIVE and for how long (an object with ``mark(revision)`` and ``held()``),
        or None where the engine has no such locks."""


def refuse_blocked(backend: Backend) -> None:
    """`Backend.preflight`: RefusedError naming everything that keeps the undo of a
    run (a snapshot, then its restore) from working, before anything is written."""
    restore, snapshot = backend.restore_blockers(), backend.snapshot_blockers()
    parts = ([f"{backend.identity()} could not be restored: {'; '.join(restore)}"] if restore
             else []) + snapshot
    if parts:
        raise RefusedError(f"{'; '.join(parts)}; so a failed run could not be undone")


def count_mismatches(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[str]:
    """One problem per table whose row count differs from the manifest's."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            problems.append(f"table {table}: manifest says {want} rows, snapshot has {got}")
    return problems


def refusals(*checks: Callable[[], Any]) -> list[str]:
    """The message of each check that refuses (raises a SafeguardError), in order: the
    checks that raise one at a time, gathered into the list a *_blockers method returns."""
    found = []
    for check in checks:
        try:
            check()
        except SafeguardError as exc:
            found.append(exc.message)
    return found


#: SQLAlchemy's names of the MySQL family (mysql+pymysql, mysql+mysqldb, mariadb+mariadbconnector).
MYSQL_DIALECTS = ("mysql", "mariadb")


def connect_url(dialect: str, cargs: Sequence[Any], cparams: Mapping[str, Any]) -> URL | None:
    """The URL of the database a driver is about to connect to, from the arguments
    SQLAlchemy's ``do_connect`` event hands it; None for an engine with no backend."""
    if dialect == "sqlite":
        from .sqlite import connect_url as sqlite_url

        return sqlite_url(cargs, cparams)
    if dialect == "postgresql":
        try:
            from .postgres.server import connect_url as postgres_url
        except ImportError:  # pragma: no cover - depends on installed extras
            return None
        return postgres_url(cparams)
    if dialect in MYSQL_DIALECTS:
        try:
            from .mysql.server import connect_url as mysql_url
        except ImportError:  # pragma: no cover - depends on installed extras
            return None
        return mysql_url(cparams)
    return None


def backend_for(url: URL | str, settings: "Settings | None" = None) -> Backend:
    """The backend for a database URL (engine options come from ``settings``)."""
    url = make_url(url) if isinstance(url, str) else url
    name = url.get_backend_name()
    if name == "sqlite":
        from .sqlite import SQLiteBackend

        return SQLiteBackend(url, settings)
    if name == "postgresql":
        try:
            from .postgres import PostgresBackend
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise UnsupportedDatabaseError(
                "PostgreSQL support needs the postgres extra: pip install 'alembic-safeguard[postgres]'"
            ) from exc
        return PostgresBackend(url, settings)
    if name in MYSQL_DIALECTS:
        try:
            from .mysql import MySQLBackend
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise UnsupportedDatabaseError(
                "MySQL and MariaDB support needs the mysql extra: pip install 'alembic-safeguard[mysql]'"
            ) from exc
        return MySQLBackend(url, settings)
    raise UnsupportedDatabaseError(
        f"no backend for {url.get_backend_name()!r} databases "
        "(safeguard supports sqlite, postgresql, mysql and mariadb)"
    )


@runtime_checkable
class KeepsReplaced(Protocol):
    """A backend whose restore can keep the database it replaces as a snapshot payload
    without copying it (SQLite moves the replaced file into the store): a manual
    restore's safety snapshot then costs a digest, not a copy."""

    engine: str

    def identity(self) -> str:
        """As `Backend.identity`."""

    def cannot_keep_in(self, directory: Path, *, sharing: bool) -> str | None:
        """Why the replaced database could not be moved into ``directory`` (another
        filesystem; with ``sharing``, other processes that have it open and would go on
        writing into the kept payload), or None if it can."""

    def restore_keeping(self, directory: Path, snapshot: Snapshot, keep: Path, *,
                        progress: Progress = None,
                        swapping: Callable[[], None] = lambda: None) -> Mapping[str, int] | None:
        """`Backend.restore`, moving the replaced database into ``keep`` as it swaps."""

    def adopt_kept(self, keep: Path) -> bool:
        """Move a replaced database a crashed restore left on its way to ``keep`` into
        it (or drop it, if it is still the live one); whether it moved one."""

    def kept_payload(self, directory: Path) -> Payload:
        """The payload `restore_keeping` moved into ``directory``: its digest and row
        counts, made private to the store."""


@runtime_checkable
class HoldsOnServer(Protocol):
    """A backend whose snapshots can live on the server beside the database and carry
    their own marker there (PostgreSQL's kept databases: kept.py), so that they are
    found, and pruned, even when the store that held their manifests is lost."""

    def on_server(self) -> list[Snapshot]:
        """Each such snapshot of this database on the server, as its marker describes it."""

    def drop_on_server(self, snapshot: Snapshot) -> None:
        """Drop one `on_server` found (only if its marker still names it)."""


@runtime_checkable
class KeepsSetAside(Protocol):
    """A backend whose restore can leave the database it replaces set aside rather than
    dropped, and keep it as a snapshot on the server (PostgreSQL: kept.py): a manual
    restore's safety snapshot then costs a rename, not a dump."""

    def can_keep_replaced(self) -> bool:
        """Whether this role may keep it (renaming a database needs CREATEDB)."""

    def keep_replaced(self, directory: Path, snapshot_id: str, progress: Progress = None) -> Payload:
        """Right after a restore made with ``keep_replaced=True``: the set-aside
        database becomes snapshot ``snapshot_id``, its marker written in ``directory``."""

    def discard_partial(self, directory: Path) -> str | None:
        """Drop what a snapshot left without a manifest by a crash holds on the server;
        what was done, or None."""
