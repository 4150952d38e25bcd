"""The server-side half of "one guarded operation per database": a PostgreSQL advisory
lock, held on a connection of its own for the whole operation.

The store's file lock only sees runners that share a store on one machine; the
advisory lock sees every runner that reaches the server. It is taken in a maintenance
database, not in the guarded one, because a restore renames the guarded database and
a template snapshot copies it, and neither is possible while anyone, our lock
connection included, is connected to it. The key is derived from the database's name,
so every runner computes the same one. The server drops the lock when the holding
session ends, so a crashed runner never leaves it behind.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from typing import Iterator

import psycopg

from ...errors import LockBusyError, RefusedError
from .server import Server, describe

POLL_S = 0.1


def lock_keys(database: str) -> tuple[int, int]:
    """The two int4 keys of the lock for ``database``: positive, so they read the same
    in pg_locks (where classid/objid are unsigned oids)."""
    digest = hashlib.sha256(f"safeguard:{database}".encode()).digest()
    return (int.from_bytes(digest[:4], "big") & 0x7FFFFFFF,
            int.from_bytes(digest[4:8], "big") & 0x7FFFFFFF)


@contextmanager
def advisory_lock(server: Server, *, timeout: float) -> Iterator[None]:
    """Hold the advisory lock of ``server.database`` for the body; LockBusyError naming
    the holder when another session keeps it for longer than ``timeout`` seconds."""
    keys = lock_keys(server.database)
    try:
        conn = server.connect_maintenance()
    except psycopg.Error as exc:
        raise RefusedError(f"cannot take the advisory lock for {server.identity()}: "
                           f"{describe(exc)}") from exc
    try:
        _acquire(conn, keys, server, timeout)
        try:
            yield
        finally:
            try:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", keys)
            except psycopg.Error:
                pass  # closing the session below releases it anyway
    finally:
        conn.close()


def _acquire(conn: psycopg.Connection, keys: tuple[int, int], server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", keys).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise LockBusyError(
                    f"another safeguard operation holds the PostgreSQL advisory lock on "
                    f"{server.identity()}{_holder(conn, keys)}; waited {timeout:g}s "
                    "(raise --lock-timeout to wait longer)"
                )
            time.sleep(POLL_S)
    except psycopg.Error as exc:
        raise RefusedError(f"cannot take the advisory lock for {server.identity()}: "
                           f"{describe(exc)}") from exc


def _holder(conn: psycopg.Connection, keys: tuple[int, int]) -> str:
    """`` (pid N, application A, since T)`` for the session holding the lock, if visible."""
    row = conn.execute(
        "SELECT l.pid, a.application_name, a.client_addr::text, a.backend_start "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.classid = %s::oid AND l.objid = %s::oid "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        keys,
    ).fetchone()
    if row is None:
        return ""
    pid, application, client, since = row
    parts = [f"server pid {pid}"]
    if application:
        parts.append(f"application {application!r}")
    if client:
        parts.append(f"from {client}")
    if since:
        parts.append(f"connected since {since:%Y-%m-%d %H:%M:%S%z}")
    return f" ({', '.join(parts)})"
