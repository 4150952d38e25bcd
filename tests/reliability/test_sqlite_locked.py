"""Another process holds the SQLite database's lock for longer than safeguard waits:
an application's long write transaction, or a stuck process.

A writer holding BEGIN IMMEDIATE leaves readers alone, so safeguard plans the run and
then waits for the write lock its snapshot copy needs (lock_timeout, here
3 s); a writer holding an exclusive lock blocks even reading the revision (SQLite's
default busy timeout, 5 s). Either way: one clear line, a non-zero exit, the database
untouched, no snapshot left, nothing for `recover` to do.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from conftest import SEED_AT

from safeguard.store import SnapshotStore

from .ledger import Tally
from .processes import start
from .states import error_line, settle, sqlite_state, store_leftovers

LOCK_TIMEOUT_S = 3

pytestmark = pytest.mark.reliability

# Holds a transaction of the kind named in argv[2] until its stdin closes.
HOLDER = """\
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN " + sys.argv[2])
print("holding", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def fingerprint(project) -> dict:
    return {"bytes": hashlib.sha256(project.db.read_bytes()).hexdigest(), **sqlite_state(project)}


@pytest.mark.parametrize(("lock", "code", "says"), [
    pytest.param("EXCLUSIVE", 3, "cannot read the database: database is locked", id="exclusive"),
    pytest.param("IMMEDIATE", 5, "database is locked", id="immediate"),
])
def test_a_database_locked_longer_than_the_timeout_is_left_untouched(lock, code, says,
                                                                     sqlite_engine, project,
                                                                     ledger):
    project = sqlite_engine.place(project, SEED_AT)
    before = fingerprint(project)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(project.db), lock],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    run = None
    try:
        assert holder.stdout.readline().strip() == "holding"
        run = start(project, "-q", "upgrade", "head", "--lock-timeout", str(LOCK_TIMEOUT_S))
        exit_code = run.wait(timeout=LOCK_TIMEOUT_S + 60)
        assert holder.poll() is None, "the holder must still hold the lock when safeguard gives up"
    finally:
        if run is not None:
            run.reap()  # nothing left running if the wait timed out
        holder.stdin.close()
        holder.wait(timeout=30)

    settled = settle(project)
    after = fingerprint(project)
    ledger(Tally(tests=1, faults=1, recoveries=settled.recoveries, data_lost=int(after != before)),
           lock=lock)
    line = error_line(run.stderr())
    assert exit_code == code and says in line, run.stderr()
    assert after == before
    assert SnapshotStore(project.store).list() == [] and store_leftovers(project) == []
    assert settled.recoveries == 0
