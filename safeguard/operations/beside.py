"""`safeguard restore ID --beside`: a snapshot's tables made readable next to the live
data (backends/beside.py says where, per engine), without touching a live table, and
the statements that copy what the live database lost back from them.

    [lock] journal begin (kind "beside", the copy's key)
           step "beside": the engine builds the copy (proven against the manifest)
           the record <store>/beside/<key>.json (written last: no record, no copy)
           journal end [unlock]

A crash anywhere before the end leaves an unfinished operation naming the key, and
`safeguard recover` drops whatever exists under it (`settle`): nothing half-made
stays. `--drop-beside` and `snapshot prune` (for the copies of the snapshots it
deletes) remove a copy the same journaled way. `safeguard diff` makes a copy of its
own under another key (``sg_diff_...``) and drops it when done (operations/diff.py).
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Collection, Iterator

import sqlalchemy as sa

from .. import durable, faults, interruption
from ..backends import Backend
from ..backends.beside import PREFIXES, BesideCopies, beside_copies, check_key, key_for
from ..comparison import CopyBack, compare, copy_back
from ..config import Settings
from ..errors import ConfigError, OperationInterruptedError, RefusedError
from ..interruption import Interrupted
from ..journal import OperationRecord
from ..reporting import ProgressFactory, Reporter, no_progress, silent
from ..restore import check_compatible
from ..store import Snapshot
from ..workspace import Held, Workspace

log = logging.getLogger(__name__)

#: The store's directory of beside copies (records, SQLite's files, PostgreSQL's dumps).
DIRECTORY = "beside"
#: The journal kinds of the operations that make or drop a copy: `recover` settles them.
KINDS = ("beside", "diff", "beside-drop")


@dataclass(frozen=True)
class BesideCopy:
    """A snapshot restored beside the live data: the store's record of it."""

    key: str
    snapshot: str
    engine: str
    database: str
    #: What SQL on the live database prefixes the copy's tables with.
    qualifier: str
    location: str
    tables: tuple[str, ...] | None
    created_at: str
    size: int
    #: The statement to run first on a connection to the live database (SQLite).
    attach: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "snapshot": self.snapshot, "engine": self.engine,
                "database": self.database, "qualifier": self.qualifier,
                "location": self.location,
                "tables": list(self.tables) if self.tables is not None else None,
                "created_at": self.created_at, "size": self.size, "attach": self.attach}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BesideCopy":
        tables = data.get("tables")
        return cls(key=check_key(str(data["key"])), snapshot=str(data["snapshot"]),
                   engine=str(data["engine"]), database=str(data["database"]),
                   qualifier=str(data["qualifier"]), location=str(data["location"]),
                   tables=tuple(tables) if tables is not None else None,
                   created_at=str(data["created_at"]), size=int(data["size"]),
                   attach=data.get("attach"))


@dataclass(frozen=True)
class BesideRestore:
    """`safeguard restore ID --beside`: the copy made, and the statements to use it."""

    copy: BesideCopy
    statements: tuple[CopyBack, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"beside": self.copy.to_dict(),
                "statements": [s.to_dict() for s in self.statements]}

    def lines(self) -> list[str]:
        """The copy and its statements, for people (SQL lines are runnable as printed)."""
        out = [f"Snapshot {self.copy.snapshot} is restored beside the live data, in "
               f"{self.copy.location}; the live tables were not touched."]
        if self.copy.attach:
            out += ["", "-- first, on a connection to the live database:", self.copy.attach]
        for s in self.statements:
            out += ["", f"-- {s.table}: both sides, joined on the primary key", s.read]
            if s.restore:
                out += [f"-- {s.what}; review, then run:", *s.restore]
        out += ["", f"Drop the copy when done: safeguard restore {self.copy.snapshot} --drop-beside"]
        return out


# -- the store's records ------------------------------------------------------------------

def _root(ws: Workspace) -> Path:
    return ws.store.root / DIRECTORY


def _record_path(ws: Workspace, key: str) -> Path:
    return _root(ws) / f"{check_key(key)}.json"


def records(settings: Settings) -> list[BesideCopy]:
    """Every complete beside copy the store knows of, oldest first (`snapshot list`)."""
    ws = Workspace(settings)
    root = _root(ws)
    found = []
    for path in sorted(root.glob("sg_*.json")) if root.is_dir() else ():
        try:
            found.append(BesideCopy.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
            log.warning("unreadable beside record %s: %s", path, exc)
    return sorted(found, key=lambda c: (c.created_at, c.key))


def _record(ws: Workspace, key: str) -> BesideCopy | None:
    path = _record_path(ws, key)
    if not path.is_file():
        return None
    return BesideCopy.from_dict(json.loads(path.read_text(encoding="utf-8")))


# -- making and dropping ------------------------------------------------------------------

def prove(ws: Workspace, backend: Backend, snapshot: Snapshot) -> None:
    """Hash the payload against its manifest, unless the engine's copy proves it on
    the way through (SQLite, MariaDB)."""
    if not backend.proves_payload_on_restore:
        ws.store.verify_checksum(snapshot)


def _tables(snapshot: Snapshot, tables: Collection[str] | None) -> tuple[str, ...] | None:
    if not tables:
        return None
    unknown = sorted(set(tables) - set(snapshot.row_counts))
    if unknown:
        raise ConfigError(f"snapshot {snapshot.id} has no table {unknown[0]} (it has: "
                          f"{', '.join(sorted(snapshot.row_counts)) or 'none'})")
    return tuple(sorted(set(tables)))


def make_copy(ws: Workspace, held: Held, copies: BesideCopies, snapshot: Snapshot, key: str, *,
              tables: tuple[str, ...] | None, progress: ProgressFactory, **facts: Any) -> int:
    """Begin the held operation and build the copy as its journaled step (a signal
    stops it and drops what was built); the copy's size. Failing, the operation ends
    "aborted" with nothing left."""
    op = held.begin(snapshot=snapshot.id, beside=key, tables=list(tables) if tables else None, **facts)
    try:
        with op.step("beside", beside=key) as outcome, interruption.stoppable():
            outcome["size"] = size = copies.make(
                ws.store.path_of(snapshot.id), snapshot, key, tables=tables,
                progress=progress("Restore beside", snapshot.size))
    except Interrupted as exc:
        interruption.consume()
        op.finish("aborted", error=f"stopped by {exc.name}", interrupted=exc.name)
        raise OperationInterruptedError(f"interrupted by {exc.name}: nothing was restored beside "
                                        "the live data", signum=exc.signum) from None
    except BaseException as exc:
        op.finish("aborted", error=f"{type(exc).__name__}: {exc}")
        raise
    return size


def restore_beside(settings: Settings, snapshot_id: str, *, tables: Collection[str] | None = None,
                   report: Reporter = silent, progress: ProgressFactory = no_progress) -> BesideRestore:
    """Make the snapshot's tables (all, or ``tables``) readable beside the live data,
    and return the statements that read both sides and copy lost data back."""
    ws = Workspace(settings)
    state = ws.database(check_known=False)
    backend = ws.backend(state)
    copies = beside_copies(backend, _root(ws))
    snapshot = ws.snapshot(snapshot_id)
    check_compatible(snapshot, backend)
    chosen = _tables(snapshot, tables)
    key = key_for(snapshot.id)
    with interruption.handling(), ws.operation("beside", backend, f"restore {snapshot.id} beside") as held:
        if _record(ws, key) is not None or key in copies.keys():
            raise RefusedError(f"snapshot {snapshot.id} is already restored beside the live data "
                               f"({copies.location(key)}); use it, or drop it first: "
                               f"safeguard restore {snapshot.id} --drop-beside")
        prove(ws, backend, snapshot)
        report(f"Restoring snapshot {snapshot.id} beside the live data, in {copies.location(key)} ...")
        size = make_copy(ws, held, copies, snapshot, key, tables=chosen, progress=progress)
        assert held.op is not None
        copy = BesideCopy(key=key, snapshot=snapshot.id, engine=backend.engine,
                          database=backend.identity(), qualifier=copies.qualifier(key),
                          location=copies.location(key), tables=chosen,
                          created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          size=size, attach=copies.attach_sql(key))
        try:
            durable.make_dir(_root(ws))
            durable.write_json(_record_path(ws, key), copy.to_dict())
            faults.point("beside:recorded")
        except BaseException as exc:
            _drop_quietly(copies, ws, key)
            held.op.finish("aborted", error=f"{type(exc).__name__}: {exc}")
            raise
        held.op.finish("restored beside", beside=key, size=size)
    with reading(state.url, copies, key) as conn:
        statements = copy_back(compare(conn, copy.qualifier, tables=chosen, counted=False),
                               copy.qualifier,
                               conn.dialect)
    return BesideRestore(copy, statements)


def drop_beside(settings: Settings, snapshot_id: str, *, report: Reporter = silent) -> BesideCopy | None:
    """Drop the copy of snapshot ``snapshot_id`` (an id or a copy's key); what was
    dropped, or None if there was none."""
    ws = Workspace(settings)
    backend = ws.backend(ws.database(check_known=False))
    copies = beside_copies(backend, _root(ws))
    if snapshot_id.startswith("sg_"):
        key = check_key(snapshot_id)
    else:  # the snapshot itself may be gone: its id is enough (checked as ids are)
        key = key_for(ws.store.latest().id if snapshot_id == "latest"
                      else ws.store.path_of(snapshot_id).name)
    with ws.operation("beside-drop", backend, f"drop beside copy {key}") as held:
        found = _record(ws, key)
        if found is None and key not in copies.keys():
            raise RefusedError(f"no beside copy {key} of {backend.identity()} "
                               "(`safeguard snapshot list` shows them)")
        op = held.begin(beside=key)
        with op.step("drop", beside=key):
            _drop(ws, copies, key)
        op.finish("dropped", beside=key)
    report(f"Dropped the beside copy {key}.")
    return found


def _drop(ws: Workspace, copies: BesideCopies, key: str) -> bool:
    """The record first (a copy without one is a leftover), then the engine's objects."""
    path = _record_path(ws, key)
    had = path.is_file()
    durable.remove_quietly(path)
    return copies.drop(key) or had


def _drop_quietly(copies: BesideCopies, ws: Workspace, key: str) -> None:
    try:
        _drop(ws, copies, key)
    except Exception as exc:  # noqa: BLE001 - the error being raised is the news; recover drops it
        log.warning("could not drop the beside copy %s: %s", key, exc)


def prune(ws: Workspace, backend: Backend, deleted: Collection[str], report: Reporter) -> list[str]:
    """Drop the copies of the snapshots ``deleted`` (under the caller's lock): a copy
    goes with its snapshot. The keys dropped."""
    copies = beside_copies(backend, _root(ws))
    dropped = []
    for copy in records(ws.settings):
        if copy.snapshot in deleted and copy.database == backend.identity():
            _drop(ws, copies, copy.key)
            report(f"Dropped the beside copy {copy.key} of pruned snapshot {copy.snapshot}")
            dropped.append(copy.key)
    return dropped


# -- reading ------------------------------------------------------------------------------

@contextmanager
def reading(url: sa.URL, copies: BesideCopies, key: str) -> Iterator[sa.Connection]:
    """A connection to the live database that reaches the copy (attached, on SQLite),
    reading one consistent state of the live tables where the engine can."""
    options: dict[str, Any] = {"poolclass": sa.pool.NullPool}
    if url.get_backend_name() != "sqlite":
        options["isolation_level"] = "REPEATABLE READ"
    engine = sa.create_engine(url, **options)
    sa.event.listen(engine, "connect", lambda dbapi, _record: copies.attach(dbapi, key))
    try:
        with engine.connect() as conn:
            yield conn
            conn.rollback()
    finally:
        engine.dispose()


# -- recovery -----------------------------------------------------------------------------

def settle(ws: Workspace, backend: Backend, record: OperationRecord, report: Reporter = silent) -> str:
    """`safeguard recover`'s part for an operation of ``KINDS`` a crash interrupted:
    drop whatever exists of its copy (the engine's objects, the record, the files).
    What was done."""
    key = record.begun.get("beside")
    if not isinstance(key, str):
        return "it named no beside copy; nothing to drop"
    copies = beside_copies(backend, _root(ws))
    dropped = _drop(ws, copies, key)
    report(f"Dropped what the interrupted {record.kind} had made of the beside copy {key}."
           if dropped else f"The interrupted {record.kind} had made nothing of {key}.")
    return (f"dropped the half-made beside copy {key}; the live tables were never touched"
            if dropped else f"nothing of the beside copy {key} existed; the live tables were never touched")


def tidy(ws: Workspace, backend: Backend, report: Reporter = silent) -> None:
    """Under the lock: drop every copy the engine holds without a record (a crash
    between the copy and its journal lines), and every `diff` copy (never kept)."""
    copies = beside_copies(backend, _root(ws))
    known = {c.key for c in records(ws.settings)}
    try:
        found = copies.keys()
    except Exception as exc:  # noqa: BLE001 - the rest of recovery must go on
        log.warning("could not list the beside copies of %s: %s", backend.identity(), exc)
        return
    for key in found:
        if key not in known or key.startswith(PREFIXES["diff"]):
            _drop(ws, copies, key)
            report(f"Dropped {key}, a beside copy a crash left unrecorded.")
    for leftover in _root(ws).glob(".tmp-*") if _root(ws).is_dir() else ():
        shutil.rmtree(leftover, ignore_errors=True)
