"""A SQLite snapshot is a committed state, even while another connection writes."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from safeguard.backends.sqlite import SQLiteBackend
from safeguard.errors import SnapshotError
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


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_a_damaged_database_is_refused_by_its_snapshot_and_nothing_is_stored(tmp_path, journal_mode):
    """The snapshot's quick_check (of the live file beside the copy in WAL mode, of the
    copy after it otherwise) is what stands between a damaged page and a snapshot that
    would be trusted: it must still find one."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={journal_mode}")
    conn.execute("CREATE TABLE events (n INTEGER, code TEXT)")
    conn.execute("CREATE INDEX ix_events_code ON events (code)")
    conn.execute("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s LIMIT 2000) "
                 "INSERT INTO events SELECT i, 'code-' || i FROM s")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'ix_events_code'").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:  # as a bad disk would: the file still opens
        f.seek((root - 1) * size)
        f.write(b"\xff" * 8)
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA quick_check").fetchall() != [("ok",)]

    store = SnapshotStore(tmp_path / "store")
    with pytest.raises(SnapshotError, match=r"fails quick_check .*: Page \d+: btreeInitPage") as refused:
        store.create(SQLiteBackend(make_url(f"sqlite:///{db}")), reason="test", revisions=())
    assert "\n" not in str(refused.value), "one line, however many problems quick_check lists"
    assert store.list() == []
    assert not any((tmp_path / "store").rglob("database.sqlite*")), "no payload may be left behind"
