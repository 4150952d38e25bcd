"""Database engines behind one protocol.

A backend knows how to copy one database consistently into a directory of payload
files, put such a copy back, count rows and check integrity. Everything else (the
store, the journal, the guard) is engine-agnostic and talks only to this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, ContextManager, Mapping, Protocol, Sequence

from sqlalchemy.engine import URL, make_url

from ..durable import Progress
from ..errors import UnsupportedDatabaseError

if TYPE_CHECKING:
    from ..config import Settings
    from ..footprint import Schema

#: Called as ``progress(tables_done, tables_total)`` while a check goes table by table.
TableProgress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class Payload:
    """What a backend wrote into a snapshot directory."""

    files: Mapping[str, str]  # file name -> sha256
    size: int  # bytes on disk
    row_counts: Mapping[str, int]
    extra: Mapping[str, Any] = field(default_factory=dict)  # engine facts for the manifest
    compression: str | None = None
    content_sha256: str | None = None  # of the uncompressed bytes, when compressed


class Backend(Protocol):
    """One database, as safeguard snapshots and restores it."""

    engine: str
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

    def row_counts(self, tables: Collection[str] | None = None) -> dict[str, int]:
        """Rows per table (of ``tables`` only, when given, those that exist), for
        manifests, data guards and restore verification."""

    def schema(self) -> "Schema":
        """The tables' definitions, foreign keys and triggers (see footprint.py)."""

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """Write a consistent copy of the committed state into ``directory``."""

    def restore(self, directory: Path, manifest: Mapping[str, Any], *,
                progress: Progress = None) -> Mapping[str, int] | None:
        """Replace the database with the copy in ``directory``. The backend proves the
        copy against the manifest (checksum, integrity, row counts) before it replaces
        anything: a damaged snapshot leaves the live database untouched. Returns the
        row counts it verified on the restored data, or None to have them counted."""

    def verify_payload(self, directory: Path, manifest: Mapping[str, Any], *,
                       progress: Progress = None) -> list[str]:
        """Restore the copy in ``directory`` into a scratch database and return the
        problems found there (integrity, row counts against the manifest)."""

    def integrity_problems(self, *, quick: bool = False, tables: Collection[str] | None = None,
                           progress: TableProgress = None) -> list[str]:
        """Problems found by the engine's own integrity checks on the live database, or
        on ``tables`` only (with their indexes and foreign keys)."""

    def preflight(self) -> None:
        """Refuse, before anything is journaled or written, what would make a snapshot
        fail (an unreachable server, a missing or too old pg_dump)."""

    def discard(self, directory: Path, manifest: Mapping[str, Any]) -> None:
        """Release what a snapshot holds outside its directory, before it is deleted."""

    def recover(self, runners: Sequence[int] = ()) -> str | None:
        """End what the crashed processes ``runners`` (pids from the journal) left
        running in the engine, then finish or undo an engine-level step they
        interrupted (a half-done swap); what was done, or None."""

    def session_lock(self, timeout: float) -> ContextManager[None]:
        """Hold the engine's own lock for one guarded operation (PostgreSQL: an advisory
        lock), on top of the store's file lock; LockBusyError after ``timeout``."""

    def close(self) -> None:
        """Release every connection this backend opened."""

    def session_of(self, dbapi_connection: Any) -> int | None:
        """The server session behind a driver connection (PostgreSQL: the backend pid),
        or None where a process's death ends its sessions (SQLite)."""

    def end_sessions(self, sessions: Sequence[int]) -> None:
        """End sessions a stopped migration left running on the server."""


def count_mismatches(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[str]:
    """One problem per table whose row count differs from the manifest's."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            problems.append(f"table {table}: manifest says {want} rows, snapshot has {got}")
    return problems


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
                "PostgreSQL support needs the postgres extra: pip install 'safeguard[postgres]'"
            ) from exc
        return PostgresBackend(url, settings)
    raise UnsupportedDatabaseError(
        f"no backend for {url.get_backend_name()!r} databases "
        "(safeguard supports sqlite and postgresql)"
    )
