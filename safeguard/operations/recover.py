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
from typing import Any, Callable

from ..backends import Backend, backend_for
from ..config import Settings
from ..errors import SnapshotNotFoundError
from ..journal import OperationRecord
from ..revisions import DatabaseState
from ..restore import restore_snapshot
from ..workspace import Workspace
from ..reporting import Reporter, silent


@dataclass(frozen=True)
class Recovered:
    """What recovery did for one interrupted operation."""

    operation: str
    kind: str
    action: str  # restored | confirmed | abandoned
    detail: str
    heads: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "action": self.action,
                "detail": self.detail, "heads": list(self.heads)}


def recover(settings: Settings, *, abandon: bool = False,
            report: Reporter = silent) -> list[Recovered]:
    """Finish every unfinished operation on this database (see the module docstring);
    with ``abandon``, close it and leave the database as it is."""
    ws = Workspace(settings)
    if abandon:
        return _abandon(ws, report=report)
    if ws.settings.url:
        # A crash between a restore's two renames can leave the database missing, so
        # the engine finishes its own step before env.py is asked to connect; and a
        # server may still be running what the crashed process had asked of it. Under
        # the lock: a live operation's sessions and databases are not a crash's.
        engine = backend_for(ws.settings.url, ws.settings)
        with ws.operation("recover", engine, check_unfinished=False):
            runners = [op.begun["pid"] for op in ws.journal.unfinished(engine.identity())
                       if isinstance(op.begun.get("pid"), int)]
            done = engine.recover(runners)
        if done:
            report(f"Settled in the engine first: {done}")
    # Not ws.database(): its "run `safeguard recover`" is no help here. A crash early in
    # a `--create` run can leave an empty file: still recoverable.
    def tidy() -> None:  # under the lock: a live operation's staging is not a leftover
        for leftover in ws.store.leftovers():
            shutil.rmtree(leftover, ignore_errors=True)

    return _settle_each(ws, "recover",
                        lambda backend, state, record: _recover_one(ws, backend, record, report),
                        outcome=lambda r: f"recovered: {r.action}", then=tidy)


def _abandon(ws: Workspace, *, report: Reporter) -> list[Recovered]:
    """Close every unfinished operation on this database without touching it: the way
    out when recovery itself cannot finish (its snapshot is damaged or gone) and a
    person has decided what the database should be. Nothing is restored or re-stamped."""
    detail = "closed by `safeguard recover --abandon`; the database was left as it is, not restored"

    def close(backend: Backend, state: DatabaseState, record: OperationRecord) -> Recovered:
        report(f"Operation {record.id} ({record.kind}) abandoned")
        return Recovered(record.id, record.kind, "abandoned", detail, state.heads)

    return _settle_each(ws, "recover --abandon", close, outcome=lambda r: "abandoned")


Settle = Callable[[Backend, DatabaseState, OperationRecord], Recovered]


def _settle_each(ws: Workspace, purpose: str, settle: Settle, *,
                 outcome: Callable[[Recovered], str],
                 then: Callable[[], None] = lambda: None) -> list[Recovered]:
    """Under the database's lock, settle each unfinished operation and write its end
    line, then run ``then`` (still under the lock)."""
    state = ws.project.database(check_known=False)
    backend = ws.backend(state)
    done = []
    with ws.operation("recover", backend, purpose, check_unfinished=False):
        for record in ws.journal.unfinished(backend.identity()):
            result = settle(backend, state, record)
            ws.journal.resume(record).finish(
                outcome(result), detail=result.detail, heads=list(result.heads))
            done.append(result)
        then()
    return done


def _recover_one(ws: Workspace, backend: Backend, record: OperationRecord,
                 report: Reporter) -> Recovered:
    snapshot_id = _pre_run_snapshot(record)
    changed = _may_have_changed(record)
    in_flight = record.in_flight()
    report(f"Operation {record.id} ({record.kind}) was interrupted"
           + (f" during {in_flight['step']}" if in_flight else ""))

    if record.begun.get("undo") == "transaction":
        heads = ws.database(check_known=False, empty_ok=True).heads
        before = record.begun.get("heads") or []
        detail = ("the run's transaction never committed: the database is as it was before the run"
                  if set(heads) == set(before) else
                  "the run's transaction had committed: every revision was applied and checked")
        return Recovered(record.id, record.kind, "confirmed", detail, heads)
    if record.kind in ("upgrade", "downgrade") and _completed_and_checked(record):
        heads = ws.database(check_known=False, empty_ok=True).heads
        return Recovered(record.id, record.kind, "confirmed",
                         "every revision was applied and the checks passed before the crash",
                         heads)
    if changed and snapshot_id:
        try:
            snapshot = ws.store.get(snapshot_id)
        except SnapshotNotFoundError:
            snapshot = None
        if snapshot is not None:
            result = restore_snapshot(ws.store, backend, ws.project, snapshot, report=report)
            detail = (f"completed the restore of snapshot {snapshot.id}" if record.kind == "restore"
                      else f"restored snapshot {snapshot.id}, the state before the operation")
            return Recovered(record.id, record.kind, "restored", detail, result.heads)
    heads = ws.database(check_known=False, empty_ok=True).heads
    if not changed:
        detail = "nothing had been changed yet; the database is as it was"
    else:
        detail = ("no snapshot had been taken (every revision was classified safe, or "
                  "policy never); the database is left as it is")
    return Recovered(record.id, record.kind, "confirmed", detail, heads)


def _pre_run_snapshot(record: OperationRecord) -> str | None:
    """The snapshot of the state before the operation, if one was completed."""
    if record.kind == "restore":
        return record.begun.get("snapshot")
    entry = record.last_done("snapshot")
    return entry.get("snapshot") if entry else None


def _may_have_changed(record: OperationRecord) -> bool:
    """Whether any step that changes the database had started."""
    changing = {"apply", "restore", "stamp"}
    return any(e.get("step") in changing for e in record.steps)


def _completed_and_checked(record: OperationRecord) -> bool:
    check = record.last_done("check")
    if not check or not check.get("ok"):
        return False
    planned = record.begun.get("steps", [])
    applied = {e.get("revision") for e in record.steps
               if e.get("step") == "apply" and e.get("status") == "done"}
    return set(planned) <= applied
