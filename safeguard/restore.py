"""Putting a snapshot back: verify it, restore it, re-stamp, verify the result.

`restore_snapshot` is the one restore-and-verify path: the guard calls it after a
failed migration (guard.Guard._fail), `safeguard restore` for a manual restore
(operations/restore.py) and `safeguard recover` for an interrupted operation
(operations/recover.py). A snapshot is never trusted without re-hashing it first, and
a restore is not done until the live database matches the manifest again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import interruption, pools
from .backends import Backend, KeepsReplaced
from .durable import Progress, close_progress
from .errors import (
    DatabaseMismatchError,
    JournalError,
    RefusedError,
    RestoreError,
    RestoreRefusedError,
    SafeguardError,
    SnapshotDamagedError,
    VerificationError,
)
from .identity import same_database
from .journal import Operation
from .project import Project
from .store import Snapshot, SnapshotStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did and what it found afterwards."""

    snapshot: Snapshot
    heads: tuple[str, ...]
    restamped: bool
    row_counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot.id, "heads": list(self.heads),
                "restamped": self.restamped, "row_counts": self.row_counts}


def check_compatible(snapshot: Snapshot, backend: Backend, *, any_database: bool = False,
                     name: str | None = None) -> None:
    """Refuse a snapshot of another engine, or of another database unless
    ``any_database`` (a restore told to take another host's or server's snapshot). A
    snapshot whose ``database_name`` is ``name`` (this database's name on every
    machine: identity.portable_name) is this database's, wherever it was taken."""
    if snapshot.engine != backend.engine:
        raise VerificationError(
            f"snapshot {snapshot.id} is a {snapshot.engine} snapshot; "
            f"this database is {backend.engine}"
        )
    named = name is not None and snapshot.database_name == name
    if not any_database and not named and not same_database(snapshot.database, backend.identity()):
        raise VerificationError(
            f"snapshot {snapshot.id} is of {snapshot.database}, not of {backend.identity()} "
            "(restore --any-database takes it anyway)"
        )


def refuse_users(backend: Backend, *, force: bool) -> tuple[str, ...]:
    """Refuse to restore a database other processes have open (they would go on
    committing into the replaced file, and lose it all); with ``force``, the warning
    that says what is being accepted."""
    users = backend.users()
    if not users:
        return ()
    named = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
    if not force:
        raise RefusedError(
            f"{backend.identity()} is open in {named}: a restore replaces the file, and "
            "whatever they commit afterwards would go to the old one and be lost; stop them "
            "first, or pass --force to restore anyway")
    return (f"{backend.identity()} is open in {named} (--force): what they commit from "
            "now on goes to the replaced file and is lost; restart them",)


def restore_snapshot(
    store: SnapshotStore,
    backend: Backend,
    project: Project,
    snapshot: Snapshot,
    *,
    op: Operation | None = None,
    report: Callable[[str], None] | None = None,
    progress: Progress = None,
    checksum_verified: bool = False,
    any_database: bool = False,
    keep: Path | None = None,
    keep_replaced: Callable[[], None] | None = None,
) -> RestoreResult:
    """Restore (the backend proves the snapshot before replacing anything), re-stamp,
    and re-verify the live database; RestoreError if any of it fails, and
    RestoreRefusedError if it stopped before the database was changed. With ``op``, it
    is that operation's journaled "restore" step, with a "swap" step journaled just
    before the first change (recover finishes a restore only once that line is
    written); ``report`` hears that it starts; ``progress`` is closed when it ends.
    With ``keep`` (a backend that `KeepsReplaced`: SQLite), the replaced database is
    moved into that directory as the swap replaces it; ``keep_replaced()``, when given
    (PostgreSQL), is called right after the swap, with the replaced database set aside
    rather than dropped, to make it the restore's safety snapshot."""
    if report is not None:
        report(f"Restoring snapshot {snapshot.id} ...")
    step = op.step("restore", snapshot=snapshot.id) if op is not None else contextlib.nullcontext()
    try:
        with step:
            return _restore_and_verify(store, backend, project, snapshot, progress=progress,
                                       checksum_verified=checksum_verified, swap=_Swap(op),
                                       any_database=any_database, keep=keep,
                                       keep_replaced=keep_replaced)
    finally:
        close_progress(progress)


def _restore_and_verify(store: SnapshotStore, backend: Backend, project: Project,
                        snapshot: Snapshot, *, progress: Progress,
                        checksum_verified: bool, swap: "_Swap",
                        any_database: bool = False, keep: Path | None = None,
                        keep_replaced: Callable[[], None] | None = None) -> RestoreResult:
    check_compatible(snapshot, backend, any_database=any_database)
    started = time.perf_counter()
    if not (backend.proves_payload_on_restore or checksum_verified):
        store.verify_checksum(snapshot)  # VerificationError: nothing was touched
    try:
        if keep is not None and isinstance(backend, KeepsReplaced):
            verified_counts = backend.restore_keeping(store.path_of(snapshot.id), snapshot, keep,
                                                      progress=progress, swapping=swap.begin)
        else:
            keeping: dict[str, Any] = {"keep_replaced": True} if keep_replaced else {}
            verified_counts = backend.restore(store.path_of(snapshot.id), snapshot,
                                              progress=progress, swapping=swap.begin, **keeping)
        swap.done()
        if keep_replaced is not None:
            # From the swap on the restore completes (a signal is noted, not raised):
            # stopped here, the replaced database would be neither kept nor dropped.
            with interruption.finishing("the restore"):
                keep_replaced()
        pools.renew()  # env.py may connect through a pool holding the replaced database
        heads = project.database(check_known=False).heads
        restamped = set(heads) != set(snapshot.revisions)
        if restamped:
            project.stamp(snapshot.revisions)
            heads = project.database(check_known=False).heads
    except JournalError:
        raise  # the step it would have announced did not run
    except Exception as exc:
        raise swap.failed(snapshot, backend, exc) from exc

    # The backend checked integrity on the very bytes now in place; what is left to
    # prove is that they are the database env.py sees, at the snapshot's revision.
    problems: list[str] = []
    counts = dict(verified_counts) if verified_counts is not None else backend.row_counts()
    if set(heads) != set(snapshot.revisions):
        problems.append(f"alembic_version holds {heads}, the snapshot {snapshot.revisions}")
    extra_tables = sorted(set(counts) - set(snapshot.row_counts))
    if extra_tables:
        problems.append(f"tables not in the snapshot are present: {', '.join(extra_tables)}")
    for table, expected in snapshot.row_counts.items():
        if counts.get(table) != expected:
            problems.append(f"table {table} has {counts.get(table)} rows, the snapshot {expected}")
    if problems:
        raise RestoreError(
            f"snapshot {snapshot.id} was restored but does not verify: {problems[0]}"
        )
    log.info("restored snapshot %s into %s in %.2fs (re-stamped: %s)", snapshot.id,
             backend.identity(), time.perf_counter() - started, "yes" if restamped else "no")
    return RestoreResult(snapshot=snapshot, heads=tuple(heads), restamped=restamped,
                         row_counts=counts)


class _Swap:
    """Whether a restore has begun changing the live database, journaled in ``op``."""

    def __init__(self, op: Operation | None) -> None:
        self.op = op
        self.began = False

    def begin(self) -> None:
        if self.op is not None:
            self.op.record("swap", "started")  # durable: recover reads it after a crash
        self.began = True

    def done(self) -> None:
        if self.op is not None:
            self.op.record("swap", "done")

    def failed(self, snapshot: Snapshot, backend: Backend, exc: Exception) -> RestoreError:
        """The error to raise for ``exc``: refused if the database was not changed."""
        if isinstance(exc, RestoreError):
            message = str(exc)
        elif isinstance(exc, DatabaseMismatchError):
            message = (f"snapshot {snapshot.id} was written back to {backend.identity()}, "
                       f"but its revision could not be checked: {exc}")
        elif isinstance(exc, SafeguardError):
            message = f"restoring snapshot {snapshot.id} failed: {exc}"
        else:
            message = f"restoring snapshot {snapshot.id} failed: {type(exc).__name__}: {exc}"
        if self.began and not isinstance(exc, RestoreRefusedError):
            return RestoreError(message)
        if self.began and self.op is not None:
            self.op.record("swap", "failed", unchanged=True, error=message)
        refused = SnapshotDamagedError if isinstance(exc, SnapshotDamagedError) else RestoreRefusedError
        return refused(f"{message}; the database was not changed by this restore")
