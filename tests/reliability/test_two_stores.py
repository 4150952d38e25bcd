"""Two stores for one SQLite database (issue 33, item 3): a cron job run with
`SAFEGUARD_STORE=...` beside a deploy with the default store. Both must take the same
lock, the database's own: with a lock per store, both ran their migrations at once,
the second one's revision failed on the first one's change, and its undo reverted the
first one's successful migration.
"""

from __future__ import annotations

import json

import pytest
from conftest import HEAD, table_contents, version_of

from safeguard import lock
from safeguard.errors import LockBusyError

from .ledger import Tally
from .mounts import read_only_view
from .processes import resume, start, wait_stopped
from .states import error_line

pytestmark = pytest.mark.reliability


def test_a_second_store_waits_for_the_first_stores_run(seeded, tmp_path, ledger):
    before = table_contents(seeded.db)
    other = {"SAFEGUARD_STORE": str(tmp_path / "cron-store")}
    first = start(seeded, "--json", "upgrade", "head", env={"SAFEGUARD_PAUSE": "journal:snapshot:started"})
    second = None
    try:
        wait_stopped(first)  # holding its lock, about to snapshot and migrate
        second = start(seeded, "--json", "upgrade", "head", "--lock-timeout", "1", env=other)
        second_code = second.wait()
        resume(first)
        first_code = first.wait()
    finally:
        first.reap()
        if second is not None:
            second.reap()
    migrated = version_of(seeded.db) == [HEAD]
    kept = {t: rows for t, rows in table_contents(seeded.db).items() if t in before and t != "alembic_version"}
    ledger(Tally(tests=1, faults=1, bad_inputs=1, data_lost=int(not migrated)),
           fault="two stores, one database")
    assert second_code == 4, second.stderr()
    assert "another safeguard operation" in error_line(second.stderr())
    assert first_code == 0, first.stderr()
    assert json.loads(first.stdout())["outcome"] == "migrated"
    assert migrated and len(kept["properties"]) == len(before["properties"])


def test_the_lock_beside_the_database_leaves_nothing_behind(seeded):
    listing = sorted(p.name for p in seeded.db.parent.iterdir())
    seeded.cli("-q", "upgrade", "head")
    assert sorted(p.name for p in seeded.db.parent.iterdir()) == listing


@pytest.mark.parametrize("first", ["writable", "read-only"])
def test_a_runner_that_cannot_write_in_the_directory_and_one_that_can_exclude_each_other(
        seeded, tmp_path, first):
    """The application's user may run safeguard where it cannot create the lock file
    beside the database (a scheduled snapshot in a container that mounts the directory
    read-only): it locks the directory instead, and the two still exclude each other."""
    with read_only_view(seeded.db.parent, tmp_path / "view") as view:
        paths = {"writable": seeded.db, "read-only": view / seeded.db.name}
        second = "read-only" if first == "writable" else "writable"
        with lock.database_file_lock(paths[first], timeout=0, purpose="first"):
            with pytest.raises(LockBusyError, match="another safeguard operation holds"):
                with lock.database_file_lock(paths[second], timeout=0.2, purpose="second"):
                    pass
        with lock.database_file_lock(paths[second], timeout=0, purpose="second"):  # let go: free
            pass
    assert not lock.beside(seeded.db).exists()


def test_two_databases_of_one_directory_do_not_wait_for_each_other(seeded):
    other = seeded.db.with_name("other.db")
    other.write_bytes(b"")
    with lock.database_file_lock(seeded.db, timeout=0, purpose="first"), \
            lock.database_file_lock(other, timeout=0, purpose="second"):
        assert lock.beside(seeded.db).exists() and lock.beside(other).exists()
