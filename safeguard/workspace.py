"""The workspace: one project, its database, its snapshot store and its journal, and
the lifecycle every command that changes the database follows.

    with ws.operation(kind, backend, purpose) as held:   # store writable, the lock,
        ...                                             # no unfinished operation
        op = held.begin(**facts)                        # the journal's begin line
        held.snapshot(...) / op.step(...)               # each step journaled
        op.finish(outcome, ...)                         # the end line

A failure leaves the operation open in the journal for `safeguard recover`, except a
failed snapshot step: nothing had been changed yet, so the operation ends "aborted".
An operation that ended (well or not) and added snapshots of its database is settled
before the lock is let go: each goes to the remote, and the retention policy is applied
(pruning.py), sparing them; so no store or server grows without bound.
This is the one implementation of that sequence; every changing command (migrate,
snapshot create, restore, prune, stamp, recover) goes through it."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy.engine import make_url

from . import pools
from .backends import Backend, backend_for
from .config import Settings
from .credentials import public_url
from .durable import Progress, close_progress
from .errors import (
    DatabaseMissingError,
    JournalError,
    OperationInterruptedError,
    RefusedError,
    SafeguardError,
    SnapshotNotAuthenticatedError,
    SnapshotNotFoundError,
    UnfinishedOperationError,
)
from .identity import aimed, portable_name, same_database
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
        self.store = SnapshotStore(settings.store_dir, names=self.name_of)
        self.journal = Journal(self.store.root)
        #: Every snapshot taken through ``Held.snapshot`` is uploaded to the remote
        #: (when one is set) beside the rest of the operation: see ``uploaded``.
        self.uploads = Uploads(settings, self.store)
        #: The empty SQLite file a restore created where there was none (restore_target).
        self._created: tuple[Path, int] | None = None

    def name_of(self, engine: str, identity: str) -> str:
        """A database's name on every machine (identity.portable_name), as this project
        names it."""
        return portable_name(engine, identity, self.settings.project_dir,
                             self.settings.database_name)

    def owns(self, snapshot: Snapshot, backend: Backend) -> bool:
        """Whether a snapshot is of this database: by its name on every machine, or
        (manifests from before names) by its identity."""
        if snapshot.engine != backend.engine:
            return False
        name = self.name_of(backend.engine, backend.identity())
        return snapshot.database_name == name or same_database(snapshot.database, backend.identity())

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

    def restore_target(self, *, create: bool) -> DatabaseState:
        """The database a restore replaces, as `database` reads it (an empty file
        included). A SQLite file that does not exist is what a restore on a new machine
        meets, and what a restore is for: with ``create`` it is created empty here (the
        restore replaces it; `discard_created` removes it again if the restore stops
        first); without (a dry run), where it would be is learnt without creating it."""
        try:
            return self.database(check_known=False, empty_ok=True)
        except DatabaseMissingError:
            if not create:
                targets: list[str | None] = []
                with aimed(targets):  # stopped before SQLite creates the file
                    self.project.database(create=True, check_known=False)
                if not targets or targets[0] is None:
                    raise
                return DatabaseState(url=make_url(f"sqlite:///{targets[0]}"), heads=())
        state = self.database(create=True, check_known=False, empty_ok=True)
        path = Path(str(state.url.database)).resolve()
        self._created = (path, path.stat().st_ino)
        log.info("the database file %s did not exist: created empty for the restore", path)
        return state

    def discard_created(self) -> None:
        """Remove the file `restore_target` created, if it is still that empty file (a
        restore that stopped before replacing it): a refused restore changes nothing."""
        if self._created is None:
            return
        path, inode = self._created
        self._created = None
        try:
            found = path.stat()
        except FileNotFoundError:
            return
        if found.st_ino == inode and found.st_size == 0 and not path.with_name(path.name + "-wal").exists():
            path.unlink()

    def backend(self, state: DatabaseState) -> Backend:
        """The engine backend for that database."""
        return backend_for(state.url, self.settings)

    def refuse_unfinished(self, database: str) -> None:
        """Refuse to change a database whose last operation did not finish."""
        pending = self.journal.unfinished(database)
        if pending:
            raise self._unfinished(pending[-1])

    def snapshot(self, snapshot_id: str, backend: Backend | None = None, *,
                 allow_unauthenticated: bool = False) -> Snapshot:
        """A snapshot to restore or verify: from the local store, else brought down from
        the remote (its manifest authenticated, each file checked against it on the way):
        the new-machine case. 'latest' on the remote names the newest of ``backend``'s
        database (`owns`), when given. One that is not authenticated (on the remote, or
        taken in from it so) only with ``allow_unauthenticated``. ``snapshot_id`` may be
        a unique prefix or suffix of an id in either (SnapshotStore.resolve)."""
        remote = self.uploads.remote
        snapshot_id = self.store.resolve(snapshot_id, remote.ids if remote is not None else None)
        try:
            found = self.store.get(snapshot_id)
        except SnapshotNotFoundError:
            if remote is None:
                raise
        else:
            if found.unauthenticated and not allow_unauthenticated:
                raise SnapshotNotAuthenticatedError(
                    f"snapshot {found.id} was taken in from the remote unauthenticated (with "
                    "--allow-unauthenticated): pass --allow-unauthenticated again to use it")
            return found
        if snapshot_id == "latest":
            ours = (lambda s: self.owns(s, backend)) if backend is not None else (lambda s: True)
            snapshot_id = remote.latest(ours, allow_unauthenticated=allow_unauthenticated).id
        return remote.download(snapshot_id, self.store, allow_unauthenticated=allow_unauthenticated)

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
        doubt = f" ({op.doubt})" if op.doubt else ""
        return UnfinishedOperationError(
            f"operation {op.id} ({op.kind}, started {op.begun.get('ts', '?')}) did not "
            f"finish{doubt}{why}; run `safeguard recover` before changing this database"
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
            before = set(self.store.ids())
            held = Held(self, kind, backend)
            try:
                yield held
            except OperationInterruptedError:
                raise  # a signal asked to stop: no housekeeping
            except SafeguardError:
                self._settle(held, before)  # a failed run's snapshots count as a good one's
                raise
            if held.op is not None and not held.op.finished:
                raise RuntimeError(f"operation {held.op.id} ({kind}) returned without finishing")
            self._settle(held, before)

    def _settle(self, held: "Held", before: set[str]) -> None:
        """After an operation that ended (its end line written): every snapshot of this
        database it added goes to the remote (those not on their way already: a kept
        database's marker and manifest, say), then the retention policy is applied
        (pruning.py; ``auto_prune = false`` turns it off), sparing what it added. Still
        under the lock; housekeeping, so a failure is a warning, never the result. An
        operation left unfinished for `recover` is left alone."""
        if held.op is not None and not held.op.finished:
            return
        try:
            added = [self.store.get(i) for i in sorted(set(self.store.ids()) - before)]
            added = [s for s in added if s.database == held.backend.identity()]
            if not added:
                return
            for thread in [self.uploads.start(s) for s in added if s.id not in self.uploads.started]:
                if thread is not None:
                    thread.join()  # no caller may wait for it: done before the lock is let go
            if not self.settings.auto_prune:
                return
            from .pruning import prune_held  # its inventory may list the remote and the server

            # An unreachable remote is the upload's news, said once by its own report.
            prune_held(self, held.backend, datetime.now(timezone.utc),
                       protect={s.id for s in added}, remote_optional=True,
                       report=lambda line: log.info("retention after %s: %s", held.kind, line))
        except SafeguardError as exc:
            log.warning("the retention policy was not applied after %s: %s", held.kind, exc)


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
