"""The workspace: one project, its database, its snapshot store and its journal, and
the lifecycle every command that changes the database follows.

    with ws.operation(kind, backend, purpose) as held:   # store writable, the lock,
        ...                                             # no unfinished operation
        op = held.begin(**facts)                        # the journal's begin line
        held.snapshot(...) / op.step(...)               # each step journaled
        op.finish(outcome, ...)                         # the end line

A failure leaves the operation open in the journal for `safeguard recover`, except a
failed snapshot step: nothing had been changed yet, so the operation ends "aborted".
This is the one implementation of that sequence; every changing command (migrate,
snapshot create, restore, prune, stamp, recover) goes through it."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from . import pools
from .backends import Backend, backend_for
from .config import Settings
from .credentials import public_url
from .durable import Progress, close_progress
from .errors import (
    DatabaseMissingError,
    JournalError,
    RefusedError,
    SnapshotNotFoundError,
    UnfinishedOperationError,
)
from .journal import Journal, Operation, OperationRecord
from .lock import database_lock
from .project import Project
from .remote import RemoteCopy, Uploads
from .revisions import DatabaseState
from .store import Snapshot, SnapshotStore

log = logging.getLogger(__name__)


class Workspace:
    """Everything a command needs, resolved once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project = Project(settings)
        self.store = SnapshotStore(settings.store_dir)
        self.journal = Journal(self.store.root)
        #: Every snapshot taken through ``Held.snapshot`` is uploaded to the remote
        #: (when one is set) beside the rest of the operation: see ``uploaded``.
        self.uploads = Uploads(settings, self.store)

    def database(self, *, create: bool = False, check_known: bool = True,
                 empty_ok: bool = False) -> DatabaseState:
        """The database env.py connects to, and its revision(s).

        An empty SQLite file is refused as a missing one is (unless ``create``): it is
        what a mistyped path leaves behind, and migrating it from base would hide that
        the real database is elsewhere. A restore or a recovery may meet one
        legitimately (``empty_ok``). When the database cannot be read and the journal
        holds an unfinished operation, that is the news: a crash mid-restore can leave
        a PostgreSQL database renamed away until `recover`.
        """
        try:
            state = self.project.database(create=create, check_known=check_known)
        except RefusedError as exc:
            # The identity the project is held to (--url's, or what env.py connected to
            # before it failed); with none, nothing to match: another database's
            # unfinished operation is not this one's news.
            identity = self.project.identity
            pending = self.journal.unfinished(identity) if identity else []
            if pending:
                raise self._unfinished(pending[-1], f", and the database cannot be read ({exc})") from exc
            raise
        if state.empty_file and not (create or empty_ok):
            raise DatabaseMissingError(
                f"database file is empty: {state.url.database} (0 bytes; check DATABASE_URL / "
                "--url, or pass --create to start a new database)"
            )
        return state

    def backend(self, state: DatabaseState) -> Backend:
        """The engine backend for that database."""
        return backend_for(state.url, self.settings)

    def refuse_unfinished(self, database: str) -> None:
        """Refuse to change a database whose last operation did not finish."""
        pending = self.journal.unfinished(database)
        if pending:
            raise self._unfinished(pending[-1])

    def snapshot(self, snapshot_id: str) -> Snapshot:
        """A snapshot from the local store, else brought down from the remote (each file
        checked against its manifest on the way): the new-machine case."""
        try:
            return self.store.get(snapshot_id)
        except SnapshotNotFoundError:
            remote = self.uploads.remote
            if remote is None:
                raise
        if snapshot_id == "latest":
            snapshot_id = remote.latest().id
        return remote.download(snapshot_id, self.store)

    def uploaded(self, report: Callable[[str], None] | None = None) -> list[RemoteCopy]:
        """Wait for the uploads this workspace started, journal what became of each
        (the remote's last success is read from these notes), tell ``report`` where
        each snapshot is (or a warning), and return them."""
        copies = self.uploads.wait()
        for copy in copies:
            try:
                self.journal.append({"op": "-", "kind": "upload", "event": "note", **copy.to_dict()},
                                    durable=False)
            except JournalError as exc:  # a note, not a step: losing it must not hide the result
                log.warning("upload of %s not noted: %s", copy.snapshot, exc)
            if report is not None:
                report(f"Snapshot {copy.snapshot} is on the remote: {copy.location}" if copy.ok
                       else f"WARNING: {copy.warning}")
        return copies

    def upload_notes(self) -> dict[str, dict[str, Any]]:
        """Each snapshot's latest upload note in the journal, by snapshot id (oldest
        first)."""
        notes: dict[str, dict[str, Any]] = {}
        for entry in self.journal.entries():
            if entry.get("kind") == "upload" and entry.get("event") == "note":
                notes.pop(str(entry.get("snapshot")), None)
                notes[str(entry.get("snapshot"))] = entry
        return notes

    def retry_uploads(self) -> list[RemoteCopy]:
        """Upload again the snapshots whose last upload failed and that the store still
        holds (a scheduled job does this first: a failed upload is retried next run)."""
        local = {s.id: s for s in self.store.list()}
        for snapshot_id, note in self.upload_notes().items():
            if not note.get("ok") and snapshot_id in local:
                self.uploads.start(local[snapshot_id])
        return self.uploaded()

    @staticmethod
    def _unfinished(op: OperationRecord, why: str = "") -> UnfinishedOperationError:
        return UnfinishedOperationError(
            f"operation {op.id} ({op.kind}, started {op.begun.get('ts', '?')}) did not "
            f"finish{why}; run `safeguard recover` before changing this database"
        )

    @contextmanager
    def operation(self, kind: str, backend: Backend, purpose: str | None = None, *,
                  check_unfinished: bool = True) -> Iterator["Held"]:
        """Hold the database for one operation of ``kind``: store writable, the file
        lock and the engine's lock, and no unfinished operation (unless recovering
        one); after a restore, no pooled connection from before it (see pools.py). The
        body begins the journal's operation once it knows what it will do
        (``held.begin``); an operation begun must be finished before the body returns."""
        self.store.ensure_writable()
        timeout = self.settings.lock_timeout
        with database_lock(self.store.root, backend.identity(), timeout=timeout,
                           purpose=purpose or kind), backend.session_lock(timeout), \
                pools.renewal():
            if check_unfinished:
                # Only under the lock: before it, another live runner's operation in
                # flight would look unfinished (exit 9) when it is merely busy (exit 4).
                self.refuse_unfinished(backend.identity())
            held = Held(self, kind, backend)
            yield held
            if held.op is not None and not held.op.finished:
                raise RuntimeError(f"operation {held.op.id} ({kind}) returned without finishing")


class Held:
    """One changing command's hold on its database (see Workspace.operation)."""

    def __init__(self, ws: Workspace, kind: str, backend: Backend) -> None:
        self.ws = ws
        self.kind = kind
        self.backend = backend
        self.op: Operation | None = None

    def begin(self, *, of_database: bool = True, **facts: Any) -> Operation:
        """The journal's begin line (on disk when this returns), naming the database
        (its identity, and its URL without a password: `recover` reaches it by that URL
        when nothing else names it) unless ``of_database`` is false (an operation on the
        store alone: prune)."""
        if of_database:
            facts = {"database": self.backend.identity(), "url": public_url(self.backend.url),
                     **facts}
        self.op = self.ws.journal.begin(self.kind, **facts)
        return self.op

    def snapshot(self, *, step: str = "snapshot", reason: str, revisions: tuple[str, ...],
                 label: str | None = None, pinned: bool = False, safety: bool = False,
                 progress: Progress = None) -> Snapshot:
        """Take a snapshot as one journaled step of the operation. If it fails, the
        operation ends there ("aborted"): nothing else has been changed yet."""
        op = self.op
        if op is None:
            raise RuntimeError("snapshot step before the operation began")
        try:
            with op.step(step) as outcome:
                snapshot = self.ws.store.create(self.backend, reason=reason, revisions=revisions,
                                                label=label, pinned=pinned, safety=safety,
                                                progress=progress)
                outcome["snapshot"] = snapshot.id
        except BaseException as exc:
            op.finish("aborted", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            close_progress(progress)
        self.ws.uploads.start(snapshot)  # proven locally: now off the machine, beside the rest
        return snapshot
