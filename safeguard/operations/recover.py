"""`safeguard recover`: finish whatever a crash interrupted, from the journal.

The journal says which step of which operation was in flight. Snapshots are always
taken before the first change of an operation, so the answer is one of two:

- a snapshot of the pre-operation state exists and the database may have changed
  since: restore it (the database returns to the pre-run state);
- nothing was changed yet, or the operation had completed and passed its checks:
  confirm the state the database is in;
- the run's undo was its transaction (undo.py): the database committed all of it or
  none of it, and the server rolled back what the crashed process left uncommitted
  (its sessions are ended first): confirm which.

Either way the interrupted operation gets its end line, naming what recovery did, and
the store's leftovers (half-written snapshots) are removed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ..backends import Backend, KeepsReplaced, KeepsSetAside, backend_for
from ..config import Settings
from ..credentials import with_credentials
from ..errors import JournalDamagedError, SnapshotNotFoundError
from ..journal import OperationRecord
from ..manifest import SAFETY_REASON
from ..reporting import Reporter, silent
from ..restore import restore_snapshot
from ..revisions import DatabaseState, format_revs
from ..workspace import Workspace
from . import beside
from .rehearse import Settled
from .rehearse import settle as settle_rehearsals


@dataclass(frozen=True)
class Recovered:
    """What recovery did for one interrupted operation."""

    operation: str
    kind: str
    action: Literal["restored", "confirmed", "abandoned"]
    detail: str
    heads: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "action": self.action,
                "detail": self.detail, "heads": list(self.heads)}


def recover(settings: Settings, *, abandon: bool = False,
            report: Reporter = silent) -> list[Recovered | Settled]:
    """Finish every unfinished operation on this database (see the module docstring);
    with ``abandon``, close it and leave the database as it is."""
    ws = Workspace(settings)
    if abandon:
        return list(_abandon(ws, report=report))
    url = ws.settings.url or _recorded_url(ws)
    if url:
        # A crash between a restore's two renames can leave the database missing, so
        # the engine finishes its own step before env.py is asked to connect; and a
        # server may still be running what the crashed process had asked of it. Under
        # the lock: a live operation's sessions and databases are not a crash's.
        engine = backend_for(url, ws.settings)
        with ws.operation("recover", engine, check_unfinished=False):
            unfinished = ws.journal.unfinished(engine.identity())
            runners = [op.begun["pid"] for op in unfinished if isinstance(op.begun.get("pid"), int)]
            sessions = [entry["session"] for op in unfinished for entry in op.steps
                        if entry.get("step") == "session" and isinstance(entry.get("session"), int)]
            settled = engine.recover(runners, sessions)
        if settled:
            report(f"Settled in the engine first: {settled}")
    # Not ws.database(): its "run `safeguard recover`" is no help here. A crash early in
    # a `--create` run can leave an empty file: still recoverable.
    def tidy(backend: Backend) -> None:  # under the lock: a live operation's staging is not a leftover
        # What a snapshot without a manifest holds outside the store (the database a
        # crashed restore had begun keeping as its safety snapshot) goes with it.
        for leftover in ws.store.leftovers():
            dropped = backend.discard_partial(leftover) if isinstance(backend, KeepsSetAside) else None
            if dropped:
                report(f"Settled in the engine: {dropped}")
            shutil.rmtree(leftover, ignore_errors=True)
        beside.tidy(ws, backend, report)  # beside copies a crash left without a record

    try:
        done: list[Recovered | Settled] = list(_settle_each(
            ws, "recover", lambda backend, state, record: _recover_one(ws, backend, record, report),
            outcome=lambda r: f"recovered: {r.action}", then=tidy))
    finally:
        ws.uploaded(report)  # a safety snapshot it finished leaves the machine as any other
    return done + list(settle_rehearsals(ws, report=report))  # copies interrupted rehearsals left


def _recorded_url(ws: Workspace) -> URL | None:
    """Without --url or DATABASE_URL, the database the unfinished operations name in
    the journal (a crash mid-swap can leave it closed to connections or renamed away,
    so env.py's own URL reaches nothing), with the credentials the project's config
    gives (see credentials.with_credentials); None unless they all name one server
    database."""
    recorded = {str(op.begun["url"]) for op in ws.journal.unfinished()
                if op.kind != "rehearse" and isinstance(op.begun.get("url"), str)}
    if len(recorded) != 1:
        return None
    try:
        url = make_url(recorded.pop())
        configured = ws.project.config.get_main_option("sqlalchemy.url")
        config = make_url(configured) if configured else None
    except (ArgumentError, ValueError):
        return None
    if url.get_backend_name() == "sqlite":
        return None  # a file: env.py reaches it whatever a crash left
    return with_credentials(url, config)


def _abandon(ws: Workspace, *, report: Reporter) -> list[Recovered]:
    """Close every unfinished operation on this database without touching it: the way
    out when recovery itself cannot finish (its snapshot is damaged or gone) and a
    person has decided what the database should be. Nothing is restored or re-stamped."""
    detail = "closed by `safeguard recover --abandon`; the database was left as it is, not restored"

    def close(backend: Backend, state: DatabaseState, record: OperationRecord) -> Recovered:
        report(f"Operation {record.id} ({record.kind}) abandoned")
        return Recovered(operation=record.id, kind=record.kind, action="abandoned", detail=detail,
                         heads=state.heads)

    return _settle_each(ws, "recover --abandon", close, outcome=lambda r: "abandoned")


Settle = Callable[[Backend, DatabaseState, OperationRecord], Recovered]


def _settle_each(ws: Workspace, purpose: str, settle: Settle, *,
                 outcome: Callable[[Recovered], str],
                 then: Callable[[Backend], None] = lambda backend: None) -> list[Recovered]:
    """Under the database's lock, settle each unfinished operation and write its end
    line, then run ``then(backend)`` (still under the lock)."""
    state = ws.project.database(check_known=False)
    backend = ws.backend(state)
    done = []
    with ws.operation("recover", backend, purpose, check_unfinished=False):
        for record in ws.journal.unfinished(backend.identity()):
            result = settle(backend, state, record)
            ws.journal.resume(record).finish(
                outcome(result), detail=result.detail, heads=list(result.heads))
            done.append(result)
        then(backend)
    return done


def _recover_one(ws: Workspace, backend: Backend, record: OperationRecord,
                 report: Reporter) -> Recovered:
    if record.doubt:
        # Finishing one that had in fact finished (a restore) would undo what was
        # written since: a person decides (see journal.py).
        raise JournalDamagedError(
            f"operation {record.id} ({record.kind}, started {record.begun.get('ts', '?')}) has "
            f"no end line and {record.doubt}: whether it finished cannot be read, so recover "
            "does not act on it; check the database, then `safeguard recover --abandon` closes "
            "it and leaves the database as it is")
    snapshot_id = _pre_run_snapshot(record)
    changed = _may_have_changed(record)
    in_flight = record.in_flight()
    report(f"Operation {record.id} ({record.kind}) was interrupted"
           + (f" during {in_flight['step']}" if in_flight else ""))

    if record.kind in beside.KINDS:  # made or dropped a copy beside the live tables only
        detail = beside.settle(ws, backend, record, report)
        return Recovered(record.id, record.kind, "confirmed", detail,
                         ws.database(check_known=False, empty_ok=True).heads)
    if record.begun.get("undo") == "transaction":
        heads = ws.database(check_known=False, empty_ok=True).heads
        before = record.begun.get("heads") or []
        detail = ("the run's transaction never committed: the database is as it was before the run"
                  if set(heads) == set(before) else
                  "the run's transaction had committed: every revision was applied and checked")
        return Recovered(record.id, record.kind, "confirmed", detail, heads)
    if record.kind in ("upgrade", "downgrade") and _completed_and_checked(record):
        heads = ws.database(check_known=False, empty_ok=True).heads
        return Recovered(operation=record.id, kind=record.kind, action="confirmed",
                         detail="every revision was applied and the checks passed before the crash",
                         heads=heads)
    if changed and snapshot_id:
        try:
            snapshot = ws.store.get(snapshot_id)
        except SnapshotNotFoundError:
            snapshot = None
        if snapshot is not None:
            at = f"{format_revs(snapshot.revisions)}, taken {snapshot.created_at}"
            if record.kind == "restore":
                report(f"The restore had begun replacing the database: completing the restore "
                       f"of snapshot {snapshot.id} ({at}) ...")
            else:
                report(f"The database had begun changing: restoring snapshot {snapshot.id} "
                       f"({at}), the state before the operation ...")
            keeping = _keeping(ws, backend, record)
            # A restore's snapshot was found this database's before it began (by its
            # name on every machine, or --any-database): not refused here.
            result = restore_snapshot(ws.store, backend, ws.project, snapshot,
                                      any_database=record.kind == "restore",
                                      keep=keeping[1] if keeping else None)
            detail = (f"completed the restore of snapshot {snapshot.id}" if record.kind == "restore"
                      else f"restored snapshot {snapshot.id}, the state before the operation")
            if keeping is not None and isinstance(backend, KeepsReplaced):
                # The restore is complete: the kept name is the replaced file's only one.
                kept = ws.store.finish_kept(backend, keeping[0], safety=True,
                                            reason=f"{SAFETY_REASON} {snapshot.id}",
                                            revisions=tuple(record.begun.get("heads") or ()))
                detail += f"; the replaced database is safety snapshot {kept.id}"
                ws.uploads.start(kept)
            return Recovered(operation=record.id, kind=record.kind, action="restored",
                             detail=detail, heads=result.heads)
    heads = ws.database(check_known=False, empty_ok=True).heads
    if not changed:
        report("It had not begun changing the database: closing it, nothing to restore.")
        if record.kind == "restore":
            backend.recover()  # the copy it was building beside the database, if any
        detail = "nothing had been changed yet; the database is as it was"
    elif snapshot_id:
        detail = (f"its snapshot {snapshot_id} is gone from the store; the database is left "
                  "as it is")
    else:
        detail = ("no snapshot had been taken (every revision was classified safe, or "
                  "policy never); the database is left as it is")
    return Recovered(operation=record.id, kind=record.kind, action="confirmed", detail=detail,
                     heads=heads)


def _keeping(ws: Workspace, backend: Backend, record: OperationRecord) -> tuple[str, Path | None] | None:
    """The safety snapshot a manual restore was keeping (the file it replaces, moved
    into the store: see restore_keeping), if a crash left it unfinished: its id, and
    the directory to keep the live file in if it was not moved in yet (else None)."""
    keeping = [e for e in record.steps if e.get("step") == "safety-snapshot"
               and e.get("status") == "keeping"]
    if record.kind != "restore" or not keeping or not isinstance(backend, KeepsReplaced):
        return None
    safety_id = str(keeping[-1].get("snapshot"))
    directory = ws.store.kept_leftover(safety_id)
    if directory is None:
        return None  # finished before the crash
    backend.adopt_kept(directory)  # if the crash came between the swap and the move
    return safety_id, None if any(directory.iterdir()) else directory


def _pre_run_snapshot(record: OperationRecord) -> str | None:
    """The snapshot of the state before the operation, if one was completed."""
    if record.kind == "restore":
        return record.begun.get("snapshot")
    entry = record.last_done("snapshot")
    return entry.get("snapshot") if entry else None


def _may_have_changed(record: OperationRecord) -> bool:
    """Whether any step that changes the database had started. A manual restore changes
    it from its swap on (restore_snapshot journals it), unless the swap failed without
    changing anything; before that it only built a copy beside the database."""
    if record.kind == "restore":
        swaps = [e for e in record.steps if e.get("step") == "swap"]
        return bool(swaps) and not swaps[-1].get("unchanged")
    changing = {"apply", "restore", "stamp", "swap"}
    return any(e.get("step") in changing for e in record.steps)


def _completed_and_checked(record: OperationRecord) -> bool:
    check = record.last_done("check")
    if not check or not check.get("ok"):
        return False
    planned = record.begun.get("steps", [])
    applied = {e.get("revision") for e in record.steps
               if e.get("step") == "apply" and e.get("status") == "done"}
    return set(planned) <= applied
