"""One guarded operation per database at a time.

Two locks, both advisory `flock`s the kernel drops when the holder dies (a crash never
leaves a stale lock), each holder writing who it is into its file so that a waiting
process can name it:

- the store's: a file in the store named after the database's identity. It keeps the
  store's own operations on one database in order, but only runners sharing that store
  see it (a cron job with `SAFEGUARD_STORE=...` beside a deploy with the default does not);
- the database's own (`Backend.session_lock`), which every runner sees whatever its
  store: PostgreSQL and MariaDB take a lock on the server; a SQLite file has none, so
  `database_file_lock` takes one beside the file (see there).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from .durable import FILE_MODE, make_dir
from .errors import LockBusyError, RefusedError, StoreNotWritableError

POLL_S = 0.05
#: Readable by all: the application's user locks it as well (it holds no secret).
LOCK_FILE_MODE = 0o644


def lock_path(store_root: Path, database: str) -> Path:
    """The lock file for one database."""
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return store_root / "locks" / f"{digest}.lock"


@contextmanager
def database_lock(store_root: Path, database: str, *, timeout: float, purpose: str) -> Iterator[None]:
    """Hold the database's lock for the body, waiting up to ``timeout`` seconds."""
    path = lock_path(store_root, database)
    fd = _open(path)
    try:
        _acquire(fd, fcntl.LOCK_EX, time.monotonic() + timeout,
                 lambda: f"another safeguard operation holds {database}{_describe_holder(path)}; "
                         f"waited {timeout:g}s (raise --lock-timeout to wait longer)")
        _write_holder(fd, purpose)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    """The lock file, opened; StoreNotWritableError in one line for anything in its
    place that is not a file (a directory, a FIFO) or that cannot be opened."""
    try:
        make_dir(path.parent)
        # Never through a link: opened (and truncated) through one planted here, the lock
        # would empty whatever file it points to. O_NONBLOCK: a FIFO would block the open.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     FILE_MODE)
    except OSError as exc:
        what = "a directory" if exc.errno == errno.EISDIR else exc.strerror or str(exc)
        raise StoreNotWritableError(f"the lock file {path} cannot be opened ({what}): move it "
                                    "aside; nothing was done") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        kind = "a FIFO" if stat.S_ISFIFO(os.lstat(path).st_mode) else "not a regular file"
        raise StoreNotWritableError(f"the lock file {path} is {kind}: move it aside; nothing "
                                    "was done")
    return fd


def _acquire(fd: int, operation: int, deadline: float, busy: Callable[[], str]) -> None:
    """flock ``fd`` (``operation``: LOCK_EX or LOCK_SH), polling until ``deadline`` (a
    ``time.monotonic()`` instant); LockBusyError saying ``busy()`` past it."""
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockBusyError(busy()) from None
            time.sleep(POLL_S)


def _write_holder(fd: int, purpose: str) -> None:
    # Never argv: it may hold a --url with a password.
    holder = {
        "pid": os.getpid(),
        "purpose": purpose,
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return ""
    if not holder:
        return ""
    return f" ({holder.get('purpose', '?')}, pid {holder.get('pid', '?')}, since {holder.get('since', '?')})"


def beside(database: Path) -> Path:
    """The lock file of a SQLite database: a hidden name beside it."""
    return database.with_name(f".{database.name}.safeguard-lock")


@contextmanager
def database_file_lock(database: Path, *, timeout: float, purpose: str) -> Iterator[None]:
    """Hold the lock of the database file ``database`` for the body, whatever store the
    caller uses, waiting up to ``timeout`` seconds.

    The lock is a file beside the database (`beside`), not the database file itself: a
    restore replaces that file by rename, after which a lock on it would guard the old
    inode only; and a second descriptor of the file, closed, would drop the POSIX locks
    SQLite holds in this process. The lock file is removed when the lock is let go (the
    next holder checks it locked the file the name still points to), so nothing is left
    beside the database. A runner that cannot write in the directory (the application's
    user, say, taking a scheduled snapshot) cannot create that file: it locks the
    directory itself, exclusively, and every other runner holds the directory shared
    beside its lock file, so the two exclude each other (and such a runner excludes the
    other databases of that directory too, for as long as it runs)."""
    deadline = time.monotonic() + timeout
    try:
        dir_fd = os.open(database.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield  # no directory, no database in it to guard (a rehearsal copy already dropped)
        return
    except OSError as exc:
        raise RefusedError(f"cannot lock {database}: cannot open its directory "
                           f"({exc.strerror or exc})") from exc
    try:
        yield from _locked_beside(dir_fd, database, deadline, timeout, purpose)
    finally:
        os.close(dir_fd)


def _locked_beside(dir_fd: int, database: Path, deadline: float, timeout: float,
                   purpose: str) -> Iterator[None]:
    path = beside(database)

    def busy(holder: str = "") -> str:
        return (f"another safeguard operation holds {database}{holder}; waited {timeout:g}s "
                "(raise --lock-timeout to wait longer)")

    while True:
        fd, writable = _open_lock_file(path)
        if fd is None:
            _acquire(dir_fd, fcntl.LOCK_EX, deadline,
                     lambda: busy(" (or another database in its directory, "
                                  "whose lock file cannot be written)"))
            yield
            return
        try:
            _acquire(dir_fd, fcntl.LOCK_SH, deadline,
                     lambda: busy(f" (a runner that cannot write in {database.parent})"))
            _acquire(fd, fcntl.LOCK_EX, deadline, lambda: busy(_describe_holder(path)))
            if not _still_named(fd, path):
                # Let go and removed by its last holder after we opened it: the lock
                # is whatever file the name holds now.
                continue
            if writable:
                _write_holder(fd, purpose)
            try:
                yield
            finally:
                if writable:
                    os.ftruncate(fd, 0)
                # Removed while still locked, so no runner can lock it after this.
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return
        finally:
            os.close(fd)  # lets go of both flocks of this round
            with contextlib.suppress(OSError):
                fcntl.flock(dir_fd, fcntl.LOCK_UN)


def _open_lock_file(path: Path) -> tuple[int | None, bool]:
    """The lock file opened for writing (created, mode 0644 so that other users can
    lock it too), else for reading (it exists, the directory is not ours to write), else
    None (it does not exist and cannot be created); and whether it is writable."""
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    for mode, create in ((os.O_RDWR, True), (os.O_RDONLY, False)):
        try:
            fd = os.open(path, mode | flags | (os.O_CREAT if create else 0), LOCK_FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RefusedError(f"{path} is a symbolic link, not safeguard's lock file: "
                                   "refusing to open it (remove it)") from exc
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
                continue
            raise RefusedError(f"cannot open the lock file {path}: {exc.strerror or exc}") from exc
        if create:
            with contextlib.suppress(OSError):
                os.fchmod(fd, LOCK_FILE_MODE)  # not narrowed by the umask
        return fd, create
    return None, False


def _still_named(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
