"""Which tables a migration holds ACCESS EXCLUSIVE, and for how long, learnt by
sampling ``pg_locks`` from a second connection while a rehearsal migrates its copy.

ACCESS EXCLUSIVE is the lock that blocks the application's reads as well as its
writes: what a team wants to know before the deploy window is which revisions take
it, on which tables, and for how long on data of the real size. Sampling costs one
small catalog query every ``INTERVAL_S`` on a connection of its own, and changes
nothing the migration does; the price is resolution: a lock taken and released
between two samples (a statement on a small table, outside a transaction) is not
seen, and a duration is known to within one interval. Inside one transaction, as
env.py runs the revisions by default, a lock is held until the whole run commits, and
that is what is measured.

Only tables visible to the sampler are named: those that existed when the run began
(a table the run itself creates is invisible outside its transaction, and nobody else
can be blocked by it).
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import psycopg

from .server import Server

INTERVAL_S = 0.02
#: How long a rehearsal waits for the sampler's connection before it starts migrating.
CONNECT_WAIT_S = 10.0
QUERY = (
    "SELECT DISTINCT c.oid::regclass::text FROM pg_locks l "
    "JOIN pg_class c ON c.oid = l.relation "
    "WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.granted "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.pid <> pg_backend_pid() AND c.relkind IN ('r', 'p', 'm')"
)


@dataclass(frozen=True)
class ExclusiveLock:
    """One table held ACCESS EXCLUSIVE during a rehearsal."""

    table: str
    #: The revision running when the lock was first seen.
    revision: str | None
    #: From the first sample that saw it to one interval after the last.
    seconds: float
    #: Still held when the last revision finished: released only at the run's commit.
    until_commit: bool

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "revision": self.revision,
                "seconds": round(self.seconds, 3), "until_commit": self.until_commit}


class LockWatch:
    """A sampler thread on its own connection to the database being migrated. Each
    revision boundary (``mark``) also samples, from the migration's thread, so a lock
    still held when a revision ends is always attributed to it."""

    def __init__(self, server: Server, *, interval: float = INTERVAL_S) -> None:
        self.server = server
        self.interval = interval
        self._running: str | None = None
        self._finished = False
        self._seen: dict[str, list[Any]] = {}  # table -> [revision, first, last, at_end]
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._guard = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def start(self, *, wait: float = CONNECT_WAIT_S) -> None:
        """Start sampling; return once the first sample is taken (or after ``wait``)."""
        self._thread = threading.Thread(target=self._sample, name="lock-watch", daemon=True)
        self._thread.start()
        self._ready.wait(wait)

    def mark(self, revision: str | None) -> None:
        """The revision running from now on (None once the last has finished: what is
        held then is held until the run commits)."""
        try:
            self._take(at_end=revision is None)
        except psycopg.Error as exc:  # never into the migration: it would fail for it
            self._failed(exc)
        with self._guard:
            self._running = revision
            self._finished = self._finished or revision is None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def held(self) -> list[ExclusiveLock]:
        """Every table seen held ACCESS EXCLUSIVE, in the order first seen."""
        return [ExclusiveLock(table, revision, last - first + self.interval, at_end)
                for table, (revision, first, last, at_end) in self._seen.items()]

    def _sample(self) -> None:
        try:
            with closing(self.server.connect()) as conn:
                self._conn = conn
                while not self._stop.is_set():
                    self._take()
                    self._ready.set()
                    self._stop.wait(self.interval)
        except psycopg.Error as exc:  # a rehearsal must not fail for want of a figure
            self._failed(exc)
        finally:
            self._conn = None
            self._ready.set()

    def _take(self, *, at_end: bool = False) -> None:
        with self._guard:
            conn = self._conn
            if conn is None or conn.closed:
                return
            now = time.monotonic()
            for (table,) in conn.execute(QUERY).fetchall():
                entry = self._seen.setdefault(table, [self._running, now, now, False])
                entry[2] = now
                entry[3] = entry[3] or at_end or self._finished

    def _failed(self, exc: psycopg.Error) -> None:
        text = str(exc).strip()
        self.error = text.splitlines()[0] if text else type(exc).__name__
