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
    """A sampler thread on its own connection to the database being migrated."""

    def __init__(self, server: Server, *, interval: float = INTERVAL_S) -> None:
        self.server = server
        self.interval = interval
        self._running: str | None = None
        self._finished = False
        self._seen: dict[str, list[Any]] = {}  # table -> [revision, first, last, at_end]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def mark(self, revision: str | None) -> None:
        """The revision running from now on (None once the last has finished)."""
        self._running = revision
        if revision is None:
            self._finished = True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._sample, name="lock-watch", daemon=True)
        self._thread.start()

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
                while not self._stop.is_set():
                    now = time.monotonic()
                    for (table,) in conn.execute(QUERY).fetchall():
                        entry = self._seen.setdefault(table, [self._running, now, now, False])
                        entry[2] = now
                        entry[3] = entry[3] or self._finished
                    self._stop.wait(self.interval)
        except psycopg.Error as exc:  # a rehearsal must not fail for want of a figure
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
