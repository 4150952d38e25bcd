"""Two operations on one database at once (issue 22, section 1): whatever one decides,
it decides on what it reads after taking the lock, and retention never prunes a
snapshot an operation still needs.

Each race is staged with real processes: the first operation stops itself
(SAFEGUARD_PAUSE) while it holds the lock, the second is started and seen waiting on
the lock file (its open descriptor in /proc), then the first goes on.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing

import pytest
from conftest import CHAIN, HEAD, SEED_AT, table_contents, version_of

from safeguard.lock import lock_path

from .ledger import Tally
from .processes import resume, start, wait_stopped, wait_until
from .states import error_line

pytestmark = pytest.mark.reliability


def _waiting_on_the_lock(run, project) -> bool:
    lock = str(lock_path(project.store, str(project.db.resolve())))
    try:
        return any(os.readlink(f"/proc/{run.pid}/fd/{fd}") == lock
                   for fd in os.listdir(f"/proc/{run.pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return False


def _snapshot(project, *args) -> dict:
    return json.loads(project.cli("--json", "snapshot", "create", *args).stdout)


def _snapshots(project) -> dict[str, dict]:
    listed = json.loads(project.cli("--json", "snapshot", "list").stdout)["snapshots"]
    return {s["id"]: s for s in listed}


def _unfinished(project) -> list[dict]:
    operations = json.loads(project.cli("--json", "log").stdout)["operations"]
    return [op for op in operations if op.get("end") is None]


def _retain(project, last: int) -> None:
    # Retention by `snapshot prune` alone: these races are between a prune and the rest.
    project.configure(keep_last=str(last), keep_daily="0", keep_weekly="0", keep_monthly="0",
                      auto_prune="false")


def test_a_restore_waiting_behind_an_upgrade_labels_its_safety_snapshot_truly(seeded, ledger):
    """The restore read the revision before the lock: its safety snapshot said SEED_AT
    while holding migrated data, and restoring it later made the next upgrade run the
    migrations a second time."""
    old = _snapshot(seeded)
    upgrade = start(seeded, "-q", "upgrade", "head", env={"SAFEGUARD_PAUSE": "journal:apply:done#2"})
    restore = None
    try:
        wait_stopped(upgrade)
        restore = start(seeded, "--json", "restore", old["id"], "--yes", "--lock-timeout", "120")
        wait_until(lambda: _waiting_on_the_lock(restore, seeded), restore, what="the restore waiting")
        resume(upgrade)
        assert upgrade.wait() == 0, upgrade.stderr()
        assert restore.wait() == 0, restore.stderr()
    finally:
        upgrade.reap()
        if restore:
            restore.reap()
    safety = json.loads(restore.stdout())["safety_snapshot"]
    labelled = _snapshots(seeded)[safety]["revision"]

    # Restored, the safety snapshot is the migrated database at its true revision: the
    # next upgrade has nothing to run a second time.
    seeded.cli("restore", safety, "--yes")
    with closing(sqlite3.connect(seeded.db)) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(properties)")]
    again = json.loads(seeded.cli("--json", "upgrade", "head").stdout)
    lost = int(version_of(seeded.db) != [HEAD] or again["applied"] != [])
    ledger(Tally(tests=1, faults=1, restores=2, data_lost=lost), race="restore behind upgrade",
           labelled=labelled)
    assert labelled == HEAD
    assert "usage_type" in columns and version_of(seeded.db) == [HEAD]
    assert again["outcome"] == "up-to-date", again


def test_a_prune_deletes_what_a_waiting_restore_checked_and_the_restore_refuses(seeded, ledger):
    """The restore verified its snapshot before the lock; a prune holding the lock then
    deleted it, and the restore failed half way (rc 8, operation left open)."""
    _retain(seeded, 1)
    doomed = _snapshot(seeded)
    _snapshot(seeded)
    seeded.cli("upgrade", CHAIN[5])
    before = table_contents(seeded.db)
    prune = start(seeded, "-q", "snapshot", "prune", env={"SAFEGUARD_PAUSE": "journal:delete:started"})
    restore = None
    try:
        wait_stopped(prune)
        restore = start(seeded, "restore", doomed["id"], "--yes", "--lock-timeout", "120")
        wait_until(lambda: _waiting_on_the_lock(restore, seeded), restore, what="the restore waiting")
        resume(prune)
        assert prune.wait() == 0, prune.stderr()
        code = restore.wait()
    finally:
        prune.reap()
        if restore:
            restore.reap()
    pending = _unfinished(seeded)
    lost = int(table_contents(seeded.db) != before)
    ledger(Tally(tests=1, faults=1, bad_inputs=1, data_lost=lost), race="prune before restore",
           code=code)
    assert code == 3, restore.stderr()
    assert "no snapshot" in error_line(restore.stderr())
    assert pending == [] and lost == 0 and version_of(seeded.db) == [CHAIN[5]]


def test_retention_keeps_the_newest_safety_snapshot(seeded, ledger):
    """`restore` announced "the previous state is in safety snapshot X"; with
    keep_last = 2 and a scheduler pruning after each backup, X was gone seconds later."""
    _retain(seeded, 2)
    first = _snapshot(seeded)
    seeded.cli("upgrade", CHAIN[5])
    outcome = json.loads(seeded.cli("--json", "restore", first["id"], "--yes").stdout)
    safety = outcome["safety_snapshot"]
    for _ in range(3):
        _snapshot(seeded)

    seeded.cli("snapshot", "prune")

    kept = safety in _snapshots(seeded)
    ledger(Tally(tests=1, faults=1, restores=1, data_lost=int(not kept)), race="prune after restore")
    assert kept, "the safety snapshot of the last restore was pruned"


def test_retention_keeps_what_an_unfinished_restore_needs(seeded, ledger):
    """A restore killed once its swap began: recover finishes it from its snapshot, so
    no prune in between may delete that snapshot. (Killed before the swap, a restore
    has changed nothing and recover only closes it.)"""
    _retain(seeded, 1)
    target = _snapshot(seeded)
    wanted = table_contents(seeded.db)
    seeded.cli("upgrade", CHAIN[5])
    for _ in range(2):
        _snapshot(seeded)
    restore = start(seeded, "restore", target["id"], "--yes",
                    env={"SAFEGUARD_FAULT": "journal:swap:started"})
    code = restore.wait()
    assert code == -9, restore.stderr()

    seeded.cli("snapshot", "prune")
    kept = target["id"] in _snapshots(seeded)
    recovered = seeded.cli("--json", "recover", expect=None)

    lost = int(table_contents(seeded.db) != wanted)
    ledger(Tally(tests=1, faults=1, recoveries=1, restores=int(not lost), data_lost=lost),
           race="prune during an unfinished restore")
    assert kept, "the snapshot an unfinished restore needs was pruned"
    assert recovered.exit_code == 0, recovered.stderr
    assert version_of(seeded.db) == [SEED_AT] and lost == 0
