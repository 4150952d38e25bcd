"""One guarded operation per database at a time.

The lock is an advisory `flock` on a file in the store, named after the database's
identity; the kernel drops it when the holder dies, so a crash never leaves a stale
lock. The holder writes who it is into the file, so a waiting process can name it.
Engines with a server-side lock (PostgreSQL advisory locks) add theirs on top.
"""

from __future__ import annotations

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
from typing import Iterator

from .durable import FILE_MODE, make_dir
from .errors import LockBusyError, StoreNotWritableError

POLL_S = 0.05


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
        _acquire(fd, path, database, timeout)
        # Never argv: it may hold a --url with a password.
        holder = {
            "pid": os.getpid(),
            "purpose": purpose,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
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


def _acquire(fd: int, path: Path, database: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockBusyError(
                    f"another safeguard operation holds {database}{_describe_holder(path)}; "
                    f"waited {timeout:g}s (raise --lock-timeout to wait longer)"
                ) from None
            time.sleep(POLL_S)


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return ""
    if not holder:
        return ""
    return f" ({holder.get('purpose', '?')}, pid {holder.get('pid', '?')}, since {holder.get('since', '?')})"
