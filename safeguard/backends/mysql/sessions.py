"""Other sessions on the server: which ones hold a database's tables (named when the
restore's swap cannot get past them), and ending the sessions a killed runner left.

A client killed mid-statement does not stop its statement: the server notices the
closed socket only when it next writes to it, and until then the statement runs on
and keeps its locks (the restore's RENAME TABLE would wait for them). The guarded run
journals each session its migration opens (runner.journal_session); `recover` ends
those that are still the same session (same id, user, database and client host)
before it restores.

Who holds a table's metadata lock is known exactly where the server says so
(MariaDB's METADATA_LOCK_INFO plugin, MySQL's performance_schema.metadata_locks);
elsewhere (or when they show none) the candidates are the sessions using the
database or in an open InnoDB transaction. Sessions themselves waiting for a metadata
lock are queued behind, not holders, and are left out.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import pymysql

from ...errors import RestoreError

Cursor = Any
SHOWN = 3
POLL_S = 0.1
#: ER_NO_SUCH_THREAD: the session ended meanwhile.
NO_SUCH_THREAD = 1094
#: MySQL's ER_LOCK_WAIT_TIMEOUT: lock_wait_timeout (or innodb_lock_wait_timeout) ran out.
LOCK_WAIT_TIMEOUT = 1205

_EXACT = (
    # MariaDB, with the METADATA_LOCK_INFO plugin installed
    "SELECT DISTINCT thread_id FROM information_schema.metadata_lock_info "
    "WHERE table_schema IN ({})",
    # MySQL 8, with performance_schema on
    "SELECT DISTINCT t.processlist_id FROM performance_schema.metadata_locks m "
    "JOIN performance_schema.threads t ON t.thread_id = m.owner_thread_id "
    "WHERE m.object_schema IN ({}) AND m.lock_status = 'GRANTED'",
)


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is a lock wait that ran out of time."""
    return isinstance(exc, pymysql.Error) and bool(exc.args) and exc.args[0] == LOCK_WAIT_TIMEOUT


def holders(cur: Cursor, databases: Sequence[str]) -> list[tuple[int, str, str, str, int, str]]:
    """(id, user, host, command, seconds, state) of the other sessions that hold, or may
    hold, tables of ``databases``."""
    marks = ", ".join(["%s"] * len(databases))
    ids: set[int] | None = None
    for query in _EXACT:
        try:
            cur.execute(query.format(marks), tuple(databases))
        except pymysql.Error:
            continue
        ids = {int(row[0]) for row in cur.fetchall() if row[0] is not None} or None
        if ids:  # (performance_schema may be off: no rows says nothing)
            break
    cur.execute(
        "SELECT id, user, host, command, time, coalesce(state, ''), db FROM information_schema.processlist "
        "WHERE id <> CONNECTION_ID() AND command NOT IN ('Daemon', 'Killed') "
        "AND coalesce(state, '') NOT LIKE 'Waiting for%%lock%%' ORDER BY id")
    rows = [tuple(row) for row in cur.fetchall()]
    if ids is None:
        try:
            cur.execute("SELECT trx_mysql_thread_id FROM information_schema.innodb_trx")
            in_transaction = {int(row[0]) for row in cur.fetchall()}
        except pymysql.Error:
            in_transaction = set()
        return [row[:6] for row in rows if row[6] in databases or row[0] in in_transaction]
    return [row[:6] for row in rows if row[0] in ids]


def describe(found: Sequence[tuple[int, str, str, str, int, str]]) -> str:
    """``id 812 (app@10.0.0.5:5123, Sleep for 31s), ...``: a short human list."""
    shown = ", ".join(f"id {id_} ({user}@{host}, {command} for {seconds}s{', ' + state if state else ''})"
                      for id_, user, host, command, seconds, state in found[:SHOWN])
    more = len(found) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def end_orphans(cur: Cursor, sessions: Sequence[int], *, user: str, database: str,
                timeout: float) -> str | None:
    """KILL those of ``sessions`` (a crashed run's, from the journal) still connected as
    ``user`` to ``database`` from this client host, and wait until the server let them
    go (a killed statement first rolls back); what was done, or None."""
    if not sessions:
        return None
    cur.execute("SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()")
    here = _host(cur.fetchone()[0])
    marks = ", ".join(["%s"] * len(sessions))
    cur.execute(f"SELECT id, user, host, db FROM information_schema.processlist WHERE id IN ({marks}) "
                "AND id <> CONNECTION_ID()", tuple(sessions))
    found = [int(id_) for id_, user_, host, db in cur.fetchall()
             if user_ == user and db == database and _host(host) == here]
    for session in found:
        try:
            cur.execute(f"KILL CONNECTION {session}")
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != NO_SUCH_THREAD:
                raise
    deadline = time.monotonic() + timeout
    while found:
        cur.execute(f"SELECT count(*) FROM information_schema.processlist WHERE id IN ({marks})",
                    tuple(found))
        if not cur.fetchone()[0]:
            break
        if time.monotonic() >= deadline:
            raise RestoreError(f"the interrupted run's server session(s) {', '.join(map(str, found))} "
                               f"did not end within {timeout:g}s of KILL; once they have, run "
                               "`safeguard recover` again")
        time.sleep(POLL_S)
    return f"ended {len(found)} server session(s) the interrupted run left running" if found else None


def _host(host: str | None) -> str:
    """A processlist host without its port: ``127.0.0.1:43028`` -> ``127.0.0.1``."""
    return (host or "").rsplit(":", 1)[0] if (host or "").count(":") == 1 else (host or "")
