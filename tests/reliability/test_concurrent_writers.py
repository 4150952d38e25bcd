"""Snapshots taken while an application writes are committed states, on both engines,
and restoring one brings back exactly that state.

The writer moves money between accounts: each transaction records a transfer and
updates two balances. A snapshot that caught half a transaction, or the two tables at
different moments, breaks the ledger: the balances no longer add up, or disagree with
the transfers. (tests/test_sqlite_consistency.py covers SQLite's WAL folding with a
pinned reader; this covers two tables at once, PostgreSQL, and the restore.)
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy.engine import make_url

from safeguard.backends import backend_for
from safeguard.config import Settings
from safeguard.store import SnapshotStore

from .ledger import Tally

pytestmark = pytest.mark.reliability

ACCOUNTS = 10
OPENING = 1000
SNAPSHOTS = 4
SCHEMA = ["CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)",
          "CREATE TABLE transfers (n INTEGER PRIMARY KEY, src INTEGER NOT NULL, "
          "dst INTEGER NOT NULL, amount INTEGER NOT NULL)"]
#: One transaction of the writer; {m} is the driver's placeholder.
TRANSFER = ("INSERT INTO transfers VALUES ({m}, {m}, {m}, {m})",
            "UPDATE accounts SET balance = balance - {m} WHERE id = {m}",
            "UPDATE accounts SET balance = balance + {m} WHERE id = {m}")


class Writer(threading.Thread):
    """Commits transfers until told to stop; ``count`` is how many have committed."""

    def __init__(self, connect: Callable[[], Any], begin: str, mark: str) -> None:
        super().__init__(daemon=True)
        self.connect, self.begin, self.mark = connect, begin, mark
        self.stop = threading.Event()
        self.count = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(7)
        conn = self.connect()
        try:
            n = 0
            while not self.stop.is_set():
                src, dst = rng.sample(range(1, ACCOUNTS + 1), 2)
                amount = rng.randint(1, 50)
                record, debit, credit = (q.format(m=self.mark) for q in TRANSFER)
                conn.execute(self.begin)
                conn.execute(record, (n + 1, src, dst, amount))
                conn.execute(debit, (amount, src))
                conn.execute(credit, (amount, dst))
                conn.execute("COMMIT")
                n += 1
                self.count = n
                time.sleep(0.001)  # an application pauses between requests
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            conn.close()


def check_ledger(rows: Callable[[str], list[tuple]], window: tuple[int, int]) -> int:
    """Assert the ledger is one committed prefix whose balances add up, of a length the
    writer had reached while the snapshot was taken (``window``: its count just before
    and just after); the length."""
    transfers = rows("SELECT n, src, dst, amount FROM transfers ORDER BY n")
    count = len(transfers)
    assert [t[0] for t in transfers] == list(range(1, count + 1)), "transfers are not a prefix"
    assert window[0] <= count <= window[1], \
        f"{count} transfers: not a state of the snapshot's own moment (the writer was at {window})"
    expected = {i: OPENING for i in range(1, ACCOUNTS + 1)}
    for _, src, dst, amount in transfers:
        expected[src] -= amount
        expected[dst] += amount
    assert dict(rows("SELECT id, balance FROM accounts ORDER BY id")) == expected, \
        "balances disagree with the transfers: the tables were caught at different moments"
    return count


class SQLiteLedger:
    name = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "ledger.db"
        with closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=wal")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.executemany("INSERT INTO accounts VALUES (?, ?)",
                             [(i, OPENING) for i in range(1, ACCOUNTS + 1)])
        self.url = f"sqlite:///{self.path}"
        self.settings = None

    def writer(self) -> Writer:
        return Writer(lambda: sqlite3.connect(self.path, timeout=30, isolation_level=None),
                      "BEGIN IMMEDIATE", "?")

    def rows(self, query: str) -> list[tuple]:
        with closing(sqlite3.connect(self.path)) as conn:
            return conn.execute(query).fetchall()


class PostgresLedger:
    name = "postgres"

    def __init__(self, pg_server, pg_url: str) -> None:
        self.server, self.url = pg_server, pg_url
        self.database = make_url(pg_url).database
        with pg_server.connect(self.database) as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"INSERT INTO accounts SELECT g, {OPENING} "
                         f"FROM generate_series(1, {ACCOUNTS}) g")
        self.settings = Settings(config_file=Path("alembic.ini"), pg_bindir=pg_server.bindir)

    def writer(self) -> Writer:
        return Writer(lambda: self.server.connect(self.database), "BEGIN", "%s")

    def rows(self, query: str) -> list[tuple]:
        with self.server.connect(self.database) as conn:
            return conn.execute(query).fetchall()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_db(request, tmp_path):
    if request.param == "sqlite":
        return SQLiteLedger(tmp_path)
    return PostgresLedger(request.getfixturevalue("pg_server"), request.getfixturevalue("pg_url"))


def test_snapshots_under_a_busy_writer_restore_to_a_committed_state(ledger_db, tmp_path, ledger):
    store = SnapshotStore(tmp_path / "store")
    backend = backend_for(ledger_db.url, ledger_db.settings)
    writer = ledger_db.writer()
    writer.start()
    snapshots, windows, overlapped = [], [], 0
    try:
        deadline = time.monotonic() + 60
        while (len(snapshots) < SNAPSHOTS or not overlapped) and time.monotonic() < deadline:
            time.sleep(0.05)
            first = writer.count
            snapshots.append(store.create(backend, reason="under a writer", revisions=()))
            windows.append((first, writer.count))
            overlapped += writer.count > first  # the writer committed meanwhile
    finally:
        writer.stop.set()
        writer.join()
    assert writer.error is None, f"the writer failed: {writer.error!r}"
    assert overlapped, "the writer should have committed while snapshots were taken"

    counts, restored, lost = [], 0, 0
    try:
        for snapshot, window in zip(snapshots, windows):
            # Put the snapshot back into the database itself, then read the ledger there.
            backend.restore(store.path_of(snapshot.id), snapshot)
            restored += 1
            try:
                count = check_ledger(ledger_db.rows, window)
                assert snapshot.row_counts["transfers"] == count
            except AssertionError:
                lost += 1
                raise
            counts.append(count)
    finally:
        ledger(Tally(tests=1, restores=restored, data_lost=lost), engine=ledger_db.name,
               snapshots=len(snapshots))
    assert len(set(counts)) > 1, "the snapshots should have caught different moments"
