"""The server-side half of "one guarded operation per database": a named lock
(``GET_LOCK``), held on a connection of its own for the whole operation.

The store's file lock only sees runners that share a store on one machine; the named
lock sees every runner that reaches the server. Its name is derived from the
database's, so every runner computes the same one; the server releases it when the
holding connection ends, so a crashed runner never leaves it behind.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from typing import Iterator

import pymysql

from ...errors import LockBusyError, RefusedError
from .server import Server, describe

POLL_S = 0.1


def lock_name(database: str) -> str:
    """At most 64 characters, the same for every runner."""
    return "safeguard:" + hashlib.sha256(database.encode()).hexdigest()[:40]


@contextmanager
def named_lock(server: Server, *, timeout: float) -> Iterator[None]:
    """Hold the named lock of ``server.database`` for the body; LockBusyError naming
    the holding connection when another one keeps it for longer than ``timeout``."""
    name = lock_name(server.database)
    try:
        conn = server.connect(None)
    except pymysql.Error as exc:
        raise RefusedError(f"cannot take the named lock for {server.identity()}: "
                           f"{describe(exc)}") from exc
    try:
        with conn.cursor() as cur:
            deadline = time.monotonic() + timeout
            try:
                while True:
                    cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
                    if cur.fetchone()[0] == 1:
                        break
                    if time.monotonic() >= deadline:
                        raise LockBusyError(
                            f"another safeguard operation holds the named lock on "
                            f"{server.identity()}{_holder(cur, name)}; waited {timeout:g}s "
                            "(raise --lock-timeout to wait longer)")
                    time.sleep(POLL_S)
            except pymysql.Error as exc:
                raise RefusedError(f"cannot take the named lock for {server.identity()}: "
                                   f"{describe(exc)}") from exc
            try:
                yield
            finally:
                try:
                    cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
                except pymysql.Error:
                    pass  # closing the connection below releases it anyway
    finally:
        conn.close()


def _holder(cur, name: str) -> str:
    cur.execute("SELECT IS_USED_LOCK(%s)", (name,))
    holder = cur.fetchone()[0]
    if holder is None:
        return ""
    cur.execute("SELECT user, host, time FROM information_schema.processlist WHERE id = %s",
                (holder,))
    row = cur.fetchone()
    if row is None:
        return f" (connection {holder})"
    return f" (connection {holder}, user {row[0]} from {row[1]}, for {row[2]}s)"
