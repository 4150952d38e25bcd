"""A SQLite snapshot is a committed state, even while another connection writes."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from safeguard.backends.sqlite import SQLiteBackend
from safeguard.store import SnapshotStore

BATCH = 10  # rows per transaction: a snapshot holding a torn transaction is not a multiple


class Writer(threading.Thread):
    """Commits BATCH rows per transaction until told to stop, remembering every count
    it committed."""

    def __init__(self, path, journal_mode):
        super().__init__(daemon=True)
        self.path, self.journal_mode = path, journal_mode
        self.stop = threading.Event()
        self.committed = {0}
        self.transactions = 0

    def run(self):
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute(f"PRAGMA journal_mode={self.journal_mode}")
        n = 0
        while not self.stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            for _ in range(BATCH):
                n += 1
                conn.execute("INSERT INTO events (n, payload) VALUES (?, randomblob(300))", (n,))
            conn.execute("COMMIT")
            self.committed.add(n)
            self.transactions += 1
            time.sleep(0.002)  # an application pauses between requests
        conn.close()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_snapshots_taken_during_writes_hold_whole_transactions(tmp_path, journal_mode):
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA journal_mode={journal_mode}")
    conn.execute("CREATE TABLE events (n INTEGER, payload BLOB)")
    conn.commit()
    conn.close()

    store = SnapshotStore(tmp_path / "store")
    backend = SQLiteBackend(make_url(f"sqlite:///{db}"))
    writer = Writer(db, journal_mode)
    writer.start()
    snapshots = []
    # In WAL mode a reader holding an old snapshot keeps checkpoints from finishing, so
    # committed pages stay in -wal and the snapshot has to fold them into its copy.
    # (In rollback-journal mode such a reader would block every writer instead.)
    reader = sqlite3.connect(db, isolation_level=None)
    if journal_mode == "wal":
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()
    try:
        deadline = time.monotonic() + 20
        while len(snapshots) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            snapshots.append(store.create(backend, reason="test", revisions=()))
    finally:
        writer.stop.set()
        writer.join()
        reader.close()

    assert writer.transactions > 20, "the writer must have been busy during the snapshots"
    counts = []
    for snap in snapshots:
        payload = store.path_of(snap.id) / "database.sqlite"
        copy = sqlite3.connect(f"{payload.as_uri()}?mode=ro&immutable=1", uri=True)
        rows, highest = copy.execute("SELECT count(*), coalesce(max(n), 0) FROM events").fetchone()
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copy.close()
        assert rows % BATCH == 0 and rows == highest, "a torn transaction in the snapshot"
        assert rows in writer.committed
        assert snap.row_counts["events"] == rows
        counts.append(rows)
    assert len(set(counts)) > 1, "the snapshots should have caught different moments"
    if journal_mode == "wal":
        assert any(s.extra["wal_folded"] for s in snapshots), "committed pages were in -wal"
