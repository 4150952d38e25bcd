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
from typing import Any, Callable

from .backends import Backend
from .durable import Progress, close_progress
from .errors import DatabaseMismatchError, RestoreError, SafeguardError, VerificationError
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


def check_compatible(snapshot: Snapshot, backend: Backend) -> None:
    """Refuse a snapshot of another engine or another database."""
    if snapshot.engine != backend.engine:
        raise VerificationError(
            f"snapshot {snapshot.id} is a {snapshot.engine} snapshot; "
            f"this database is {backend.engine}"
        )
    if snapshot.database != backend.identity():
        raise VerificationError(
            f"snapshot {snapshot.id} is of {snapshot.database}, not of {backend.identity()}"
        )


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
) -> RestoreResult:
    """Restore (the backend proves the snapshot before replacing anything), re-stamp,
    and re-verify the live database; RestoreError if any of it fails. With ``op``, it
    is that operation's journaled "restore" step; ``report`` hears that it starts;
    ``progress`` is closed when it ends."""
    if report is not None:
        report(f"Restoring snapshot {snapshot.id} ...")
    step = op.step("restore", snapshot=snapshot.id) if op is not None else contextlib.nullcontext()
    try:
        with step:
            return _restore_and_verify(store, backend, project, snapshot, progress=progress,
                                       checksum_verified=checksum_verified)
    finally:
        close_progress(progress)


def _restore_and_verify(store: SnapshotStore, backend: Backend, project: Project,
                        snapshot: Snapshot, *, progress: Progress,
                        checksum_verified: bool) -> RestoreResult:
    check_compatible(snapshot, backend)
    started = time.perf_counter()
    if not (backend.proves_payload_on_restore or checksum_verified):
        store.verify_checksum(snapshot)  # VerificationError: nothing was touched
    try:
        verified_counts = backend.restore(store.path_of(snapshot.id), snapshot.to_dict(),
                                          progress=progress)
        heads = project.database(check_known=False).heads
        restamped = set(heads) != set(snapshot.revisions)
        if restamped:
            project.stamp(snapshot.revisions)
            heads = project.database(check_known=False).heads
    except RestoreError:
        raise
    except DatabaseMismatchError as exc:
        raise RestoreError(f"snapshot {snapshot.id} was written back to {backend.identity()}, "
                           f"but its revision could not be checked: {exc}") from exc
    except SafeguardError as exc:
        raise RestoreError(f"restoring snapshot {snapshot.id} failed: {exc}") from exc
    except Exception as exc:
        raise RestoreError(f"restoring snapshot {snapshot.id} failed: {type(exc).__name__}: {exc}") from exc

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
    return RestoreResult(snapshot, tuple(heads), restamped, counts)
