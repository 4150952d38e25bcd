"""Every error safeguard raises, and the exit code each one means.

    SafeguardError                      1  something went wrong
    ├── ConfigError                     2  bad configuration, option or argument
    ├── RefusedError                    3  refused before touching anything
    │   ├── UnknownRevisionError            target or database revision not in the scripts
    │   ├── MultipleHeadsError              several heads and no explicit target
    │   ├── DatabaseMissingError            the database file does not exist
    │   ├── UnsupportedDatabaseError        no backend for this URL
    │   ├── DatabaseMismatchError           env.py connects to another database than the
    │   │                                   one named (--url) or read earlier in the run
    │   ├── SeveralDatabasesError           env.py migrates several databases in one run
    │   ├── StoreNotWritableError           the snapshot store cannot be written
    │   ├── StoreNotTrustedError            another user could write the store (or a
    │   │                                   link inside it): not used
    │   ├── JournalDamagedError             the journal cannot be read, or a damaged line
    │   │                                   in it leaves unknown what must be known
    │   └── SnapshotNotFoundError           no snapshot with that id
    ├── LockBusyError                   4  another guarded operation holds the database
    ├── SnapshotError                   5  the snapshot could not be taken; nothing migrated
    ├── MigrationFailedError            6  a revision failed; the snapshot was restored
    │   └── MigrationTimeoutError           a revision outran --timeout and was stopped
    ├── HealthCheckFailedError          7  a check failed after migrating; restored
    ├── RestoreError                    8  a restore failed: the database needs attention
    │   └── RestoreRefusedError             it stopped before changing the database
    │       └── SnapshotDamagedError       10  ... because the snapshot's bytes do not
    │                                           match its manifest (found on the way in)
    ├── UnfinishedOperationError        9  the journal holds an unfinished operation
    │   └── JournalError                    the journal cannot be written: this one stops unfinished
    ├── VerificationError              10  a snapshot does not match its manifest
    │   └── SnapshotNotAuthenticatedError   a remote snapshot's manifest is not signed by
    │                                       this machine's remote key
    ├── LintFailedError                11  `lint --strict` found unacknowledged revisions
    └── OperationInterruptedError 130/143  SIGINT/SIGTERM stopped the operation; what it
                                           had changed was undone (128 + the signal)
    └── RehearsalFailedError           12  the rehearsal on a copy failed: the real run
                                           would fail; the live database was not changed
    └── RemoteError                    13  the remote store (remote = s3://...) failed
        ├── RemoteCredentialsError          no credentials, or the service refused them
        ├── RemoteBucketError               the bucket does not exist
        └── RemoteUnreachableError          the endpoint cannot be reached

The exit code lives on the class, as click does it, so the CLI never maps errors by
hand. Lower-level errors (sqlite3, subprocess, Alembic) are translated where they
happen and re-raised ``from`` their cause.
"""

from __future__ import annotations


class SafeguardError(Exception):
    """Base of every error safeguard raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, report: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: A result object (e.g. a ``GuardResult``) describing what happened, if any.
        self.report = report

    def __str__(self) -> str:
        return self.message


class ConfigError(SafeguardError):
    """A configuration key, option or argument is wrong."""

    exit_code = 2


class RefusedError(SafeguardError):
    """A precondition failed; nothing was changed."""

    exit_code = 3


class UnknownRevisionError(RefusedError):
    """A revision is not known to the script directory."""


class MultipleHeadsError(RefusedError):
    """The scripts have several heads and the target does not say which."""


class DatabaseMissingError(RefusedError):
    """The database file does not exist (and creating it was not asked for)."""


class UnsupportedDatabaseError(RefusedError):
    """No backend supports this database URL."""


class DatabaseMismatchError(RefusedError):
    """env.py connects to a database other than the one --url/DATABASE_URL names, or
    than the one it connected to earlier in the same run (the one snapshotted)."""

    def __init__(self, message: str, *, report: object | None = None,
                 first_connection: bool = True) -> None:
        super().__init__(message, report=report)
        #: True when env.py had opened no other connection in that run of it: nothing
        #: can have been executed anywhere yet.
        self.first_connection = first_connection


class SeveralDatabasesError(RefusedError):
    """env.py migrates several databases in one run (`alembic init -t multidb`);
    safeguard guards one database per run."""


class StoreNotWritableError(RefusedError):
    """The snapshot store cannot be created or written."""


class StoreNotTrustedError(RefusedError):
    """The store, or something in it, belongs to another user, is writable by group or
    others, or is a symbolic link: safeguard does not act on what others could write."""


class JournalDamagedError(RefusedError):
    """The journal cannot be read (it is not a file), or a damaged line in it leaves
    unknown what the command must know (whether an operation finished, which snapshots
    retention must keep): refused, nothing changed."""


class SnapshotNotFoundError(RefusedError):
    """No snapshot with that id exists in the store."""


class LockBusyError(SafeguardError):
    """Another guarded operation holds this database's lock."""

    exit_code = 4


class SnapshotError(SafeguardError):
    """Taking a snapshot failed; the database was not migrated."""

    exit_code = 5


class MigrationFailedError(SafeguardError):
    """A revision raised; the database was restored from the snapshot."""

    exit_code = 6


class MigrationTimeoutError(MigrationFailedError):
    """A revision outran the run's --timeout; it was stopped and the database restored."""


class HealthCheckFailedError(SafeguardError):
    """A health check failed: after migrating, the database was restored; after a manual
    restore, the restored database and the safety snapshot are left in place, with
    nothing pending."""

    exit_code = 7


class RestoreError(SafeguardError):
    """Restoring a snapshot failed: the database needs a person's attention."""

    exit_code = 8


class RestoreRefusedError(RestoreError):
    """A restore stopped before it changed the database (other sessions would not
    leave, the snapshot failed its proof on the way in): nothing is left to recover."""


class SnapshotDamagedError(RestoreRefusedError):
    """A restore found, while copying the snapshot in, that its bytes do not match the
    manifest, and stopped before changing the database: the exit code is a damaged
    snapshot's (as `VerificationError`), whichever check caught it."""

    exit_code = 10


class UnfinishedOperationError(SafeguardError):
    """The journal shows an operation that did not finish; run `safeguard recover`."""

    exit_code = 9


class JournalError(UnfinishedOperationError):
    """The journal cannot be written (store read-only or full): the operation stops
    before its next step, unfinished, for `safeguard recover` to settle."""


class VerificationError(SafeguardError):
    """A snapshot does not match its manifest (checksum, engine, identity)."""

    exit_code = 10


class SnapshotNotAuthenticatedError(VerificationError):
    """A snapshot from the remote whose manifest is not signed by this machine's remote
    key (none is set, it carries no signature, or the signature does not match): anyone
    who can write the bucket could have put it there; used only when told."""


class LintFailedError(SafeguardError):
    """`lint --strict` found destructive or unknown revisions not acknowledged."""

    exit_code = 11


class OperationInterruptedError(SafeguardError):
    """SIGINT or SIGTERM stopped the operation, and what it had changed was undone
    (interruption.py). The exit code is the shell's for the signal, 128 + its number:
    130 for SIGINT, 143 for SIGTERM."""

    exit_code = 130

    def __init__(self, message: str, *, signum: int, report: object | None = None) -> None:
        super().__init__(message, report=report)
        self.signum = signum
        self.exit_code = 128 + signum
class RehearsalFailedError(SafeguardError):
    """A revision or a health check failed on the rehearsal's copy: the real upgrade
    would fail the same way. The live database was never changed."""

    exit_code = 12


class RemoteError(SafeguardError):
    """The remote snapshot store (``remote = s3://...``) could not be read or written.
    The message names the bucket and what failed, never a credential."""

    exit_code = 13


class RemoteCredentialsError(RemoteError):
    """No credentials were found in the AWS chain, or the service refused them."""


class RemoteBucketError(RemoteError):
    """The remote's bucket does not exist."""


class RemoteUnreachableError(RemoteError):
    """The remote's endpoint cannot be reached (or stopped answering mid-transfer)."""
