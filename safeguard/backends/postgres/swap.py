"""Swapping a restored database in for the live one, by rename, and finishing a swap
that a crash interrupted.

A restore never writes into the live database. The snapshot is restored beside it
(``D.sg-restoring``), renamed ``D.sg-ready`` once complete, and then swapped in:

    1. close D to new connections, and deal with the sessions still on it (below)
    2. ALTER DATABASE D RENAME TO "D.sg-old"        D keeps existing until here
    3. ALTER DATABASE "D.sg-ready" RENAME TO D      the restored copy is live
    4. DROP DATABASE "D.sg-old"                     the failed migration is gone
       (a manual restore keeps it instead, as its safety snapshot: kept.py)

A crash between 2 and 3 leaves no D at all, but ``D.sg-ready`` and ``D.sg-old`` say
exactly where it stopped; `finish_interrupted` (run before every restore, and so by
`safeguard recover`) completes or undoes the swap from the names alone.

Sessions: a database cannot be renamed while anyone is connected to it. Which is
right depends on the deployment, so it is an explicit setting:

* ``pg_sessions = wait`` (default): wait up to ``pg_sessions_timeout`` seconds for
  the other sessions to leave, then fail the restore (RestoreError) naming them; the
  live database is reopened and left as the migration left it.
* ``pg_sessions = terminate``: end them with ``pg_terminate_backend`` (the deploy
  window is ours; the application reconnects to the restored database).

New connections are refused from step 1 on, so waiting can end.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import psycopg

from ... import faults
from ...errors import RestoreError, RestoreRefusedError
from . import databases, names
from .server import application_name

log = logging.getLogger(__name__)

POLL_S = 0.1
SHOWN_SESSIONS = 3
#: How often a restore waiting for sessions to leave says so again.
WAIT_REPORT_S = 5.0
#: Other backends on a database; autovacuum workers are left out because the server
#: cancels them itself when a database is renamed or dropped.
SESSIONS_QUERY = (
    "SELECT pid, coalesce(nullif(application_name, ''), backend_type), usename, state "
    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
    "AND backend_type <> 'autovacuum worker' ORDER BY pid"
)


@dataclass(frozen=True)
class SessionPolicy:
    """What to do about other sessions on a database that must be renamed."""

    mode: str = "wait"  # wait | terminate
    timeout: float = 30.0


def swap_in(conn: psycopg.Connection, live: str, incoming: str, policy: SessionPolicy,
            swapping: Callable[[], None] = lambda: None, *, keep_old: bool = False) -> None:
    """Make the complete database ``incoming`` the one called ``live``, and drop what
    ``live`` was (unless ``keep_old``: it stays ``D.sg-old``, closed to connections).
    ``conn`` is a maintenance connection (autocommit). ``swapping()`` is called just
    before the first rename: a refusal before it (sessions that would not leave) has
    left ``live`` as it was, open to connections again."""
    old = names.old(live)
    databases.drop(conn, old)
    if databases.exists(conn, live):
        databases.allow_connections(conn, live, False)
        faults.point("postgres:swap:closed")
        try:
            _rename_when_alone(conn, live, old, policy, swapping)
        except BaseException:
            databases.allow_connections(conn, live, True)
            raise
        faults.point("postgres:swap:renamed-old")
    else:
        swapping()
    databases.rename(conn, incoming, live)
    faults.point("postgres:swap:renamed-new")
    if not keep_old:
        databases.drop(conn, old)


def finish_interrupted(conn: psycopg.Connection, live: str) -> str | None:
    """Leave ``live`` existing (as it was, or as restored) and none of the transient
    databases of an interrupted restore; say what was done, None if nothing was."""
    restoring, ready, old = names.restoring(live), names.ready(live), names.old(live)
    found = {name for name in (restoring, ready, old) if databases.exists(conn, name)}
    if not found:
        return None
    databases.drop(conn, restoring)  # never complete: a restore stopped half-way
    if not databases.exists(conn, live):
        if ready in found:
            # Stopped between the renames: the restored copy is complete, finish the swap.
            databases.rename(conn, ready, live)
            databases.drop(conn, old)
            return f"finished an interrupted swap: {ready} is now {live}"
        if old in found:
            databases.rename(conn, old, live)
            databases.allow_connections(conn, live, True)
            return f"undid an interrupted swap: {old} is {live} again"
        return f"dropped {restoring}, a restore that did not finish"
    if ready in found or old in found:
        # A swap had begun, and closed the live database to new connections.
        databases.allow_connections(conn, live, True)
    databases.drop(conn, ready)
    databases.drop(conn, old)
    return f"cleaned up after an interrupted restore of {live} ({', '.join(sorted(found))})"


def end_orphans(conn: psycopg.Connection, runners: Sequence[int], *, timeout: float) -> str | None:
    """End the server sessions that the crashed safeguard processes ``runners`` (pids)
    left behind, and wait until they are gone.

    A client killed mid-statement does not stop its server backend: a CREATE DATABASE
    of ``D.sg-restoring``, a RENAME, a migration holding its locks, or a surviving
    pg_restore would go on beside the recovery and collide with it. Their sessions carry
    the runner's pid in their application name (server.application_name)."""
    names = [application_name(pid) for pid in runners if pid != os.getpid()]
    if not names:
        return None
    deadline = time.monotonic() + timeout
    ended: set[int] = set()
    # Looked up again after each round: a dying pg_restore's workers may still be starting.
    while found := [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = ANY(%s) "
            "AND pid <> pg_backend_pid()", (names,))]:
        try:
            terminate(conn, found, timeout=max(deadline - time.monotonic(), 0.0))
        except RestoreError as exc:
            raise RestoreError(f"{len(found)} server session(s) of the interrupted run "
                               f"(server pids {', '.join(map(str, found))}) did not end within "
                               f"{timeout:g}s; end them, then run `safeguard recover` again") from exc
        ended.update(found)
    return f"ended {len(ended)} server session(s) of the interrupted run" if ended else None


def sessions(conn: psycopg.Connection, database: str) -> list[tuple[int, str, str, str]]:
    """(pid, application or backend type, user, state) of every other session on ``database``."""
    return [tuple(row) for row in conn.execute(SESSIONS_QUERY, (database,))]


def describe_sessions(found: list[tuple[int, str, str, str]]) -> str:
    """A short human list of sessions: ``pid 812 (psql, app, idle), ...``."""
    shown = ", ".join(f"pid {pid} ({app}, {user or '?'}, {state or '?'})"
                      for pid, app, user, state in found[:SHOWN_SESSIONS])
    more = len(found) - SHOWN_SESSIONS
    return shown + (f" and {more} more" if more > 0 else "")


def _rename_when_alone(conn: psycopg.Connection, live: str, old: str, policy: SessionPolicy,
                      swapping: Callable[[], None]) -> None:
    deadline = time.monotonic() + policy.timeout
    announced = False
    next_word = time.monotonic()  # when the wait is next reported
    while True:
        others = sessions(conn, live)
        if others and policy.mode == "wait" and time.monotonic() >= next_word:
            # A wait of up to pg_sessions_timeout must not look like a hang.
            log.warning("the restore waits for %d other session(s) to leave %s: %s; %.0fs left "
                        "(pg_sessions_timeout %gs)", len(others), live, describe_sessions(others),
                        max(deadline - time.monotonic(), 0.0), policy.timeout)
            next_word = time.monotonic() + WAIT_REPORT_S
        if others and policy.mode == "terminate":
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid() "
                         "AND backend_type <> 'autovacuum worker'", (live,))
        elif not others:
            if not announced:
                swapping()
                announced = True
            try:
                databases.rename(conn, live, old)
                return
            except psycopg.errors.ObjectInUse:
                pass  # a backend still exiting, or a prepared transaction: look again
        if time.monotonic() >= deadline:
            others = sessions(conn, live)
            who = describe_sessions(others) if others else "a prepared transaction or a backend still exiting"
            advice = ("they could not be ended" if policy.mode == "terminate" else
                      "set pg_sessions = terminate to end them, or raise pg_sessions_timeout")
            raise RestoreRefusedError(
                f"{len(others) or 'some'} other session(s) still on {live} after "
                f"{policy.timeout:g}s: {who}; {advice}"
            )
        time.sleep(POLL_S)


def terminate(conn: psycopg.Connection, pids: list[int], *, timeout: float = 10.0) -> None:
    """End the sessions ``pids`` and wait until the server has let them go (the one
    way safeguard ends sessions it knows by pid: a stopped migration's, a crashed run's)."""
    deadline = time.monotonic() + timeout
    conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
    while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                       (pids,)).fetchone()[0]:
        if time.monotonic() >= deadline:
            raise RestoreError(f"sessions {', '.join(map(str, pids))} did not end within {timeout:g}s")
        time.sleep(POLL_S)
