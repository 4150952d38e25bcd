"""A store another local user can write is not trusted (issue 22, section 2).

Like ssh with its keys: safeguard uses a snapshot store only when the store and
everything in it belongs to the invoking user and no one else can write it; a symbolic
link or a foreign file inside it is refused, never followed or deleted. The second user
here is the machine's unprivileged ``postgres`` account (the tests run as root, so a
file chowned to it is "foreign").
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import shutil
import sqlite3
from datetime import datetime, timezone

import pytest
from conftest import SEED_AT, table_contents, version_of

OTHER = "postgres"

needs_other_user = pytest.mark.skipif(
    os.geteuid() != 0 or not any(p.pw_name == OTHER for p in pwd.getpwall()),
    reason=f"needs root and a second local user ({OTHER})")


def _other_uid() -> int:
    return pwd.getpwnam(OTHER).pw_uid


def _refused_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("safeguard: error: "), lines[0]
    return lines[0]


def _snapshot(project) -> str:
    return json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]


def test_a_store_others_can_write_is_refused(seeded):
    _snapshot(seeded)
    before = seeded.db.read_bytes()
    os.chmod(seeded.store, 0o777)
    for args in (("snapshot", "create"), ("snapshot", "list"), ("upgrade", "head"), ("recover",)):
        line = _refused_line(seeded.cli(*args, expect=3))
        assert str(seeded.store) in line and "chmod go-w" in line, line
    assert seeded.db.read_bytes() == before


@needs_other_user
def test_a_store_owned_by_another_user_is_refused(seeded):
    _snapshot(seeded)
    os.chown(seeded.store, _other_uid(), -1)
    line = _refused_line(seeded.cli("snapshot", "list", expect=3))
    assert str(seeded.store) in line and OTHER in line, line


@needs_other_user
def test_a_foreign_file_inside_the_store_is_refused(seeded):
    snap = _snapshot(seeded)
    manifest = seeded.store / "snapshots" / snap / "manifest.json"
    os.chown(manifest, _other_uid(), -1)
    line = _refused_line(seeded.cli("snapshot", "list", expect=3))
    assert str(manifest) in line and OTHER in line, line


def test_a_symlink_planted_as_the_lock_file_never_touches_the_database(seeded):
    """The lock was opened with O_CREAT, following links, then truncated: a link to the
    database truncated the database to 0 bytes."""
    from safeguard.lock import lock_path

    _snapshot(seeded)  # the store and its locks/ directory exist
    before = table_contents(seeded.db)
    size = seeded.db.stat().st_size
    for lock in (seeded.store / "locks").iterdir():
        lock.unlink()
    planted = lock_path(seeded.store, str(seeded.db.resolve()))
    planted.symlink_to(seeded.db)

    line = _refused_line(seeded.cli("snapshot", "create", expect=3))

    assert "symbolic link" in line and str(planted) in line, line
    assert seeded.db.stat().st_size == size
    assert table_contents(seeded.db) == before
    assert planted.is_symlink()  # refused, not removed: a person looks at who put it there


def test_prune_never_follows_a_snapshot_directory_that_is_a_symlink(seeded, tmp_path):
    seeded.configure(keep_last="1", keep_daily="0", keep_weekly="0", keep_monthly="0",
                     auto_prune="false")
    old, _new = _snapshot(seeded), _snapshot(seeded)
    # Someone moves the old snapshot out and leaves a link in its place.
    outside = tmp_path / "precious"
    shutil.move(str(seeded.store / "snapshots" / old), outside)
    (seeded.store / "snapshots" / old).symlink_to(outside)
    kept = sorted(p.name for p in outside.iterdir())

    line = _refused_line(seeded.cli("snapshot", "prune", expect=3))

    assert "symbolic link" in line, line
    assert sorted(p.name for p in outside.iterdir()) == kept == sorted(kept)
    assert "manifest.json" in kept


@needs_other_user
def test_a_planted_snapshot_and_journal_are_not_restored(seeded):
    """Another user who could write the store planted a snapshot of their own data and
    a journal holding an open restore of it; `recover` "completed" it."""
    snap = _snapshot(seeded)
    seeded.cli("upgrade", "head")
    before = table_contents(seeded.db)
    journal = seeded.store / "journal.jsonl"
    line = {"ts": datetime.now(timezone.utc).isoformat(), "op": "20260101T000000-abcdef",
            "kind": "restore", "event": "begin", "pid": 1, "snapshot": snap,
            "database": str(seeded.db.resolve()), "heads": []}
    step = {"ts": line["ts"], "op": line["op"], "event": "step", "step": "restore",
            "status": "started", "snapshot": snap}
    planted = journal.with_name("planted")
    planted.write_text(journal.read_text() + json.dumps(line) + "\n" + json.dumps(step) + "\n")
    os.chown(planted, _other_uid(), -1)
    os.replace(planted, journal)

    refused = _refused_line(seeded.cli("recover", expect=3))

    assert str(journal) in refused and OTHER in refused, refused
    assert table_contents(seeded.db) == before


class _Planted:
    """What a pickled job runs when it is unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_schedule_never_unpickles_what_is_in_the_store(seeded, tmp_path):
    """APScheduler's SQLAlchemy job store unpickles its rows: a row planted in
    .safeguard/schedule.sqlite ran code as the user running `schedule --status`."""
    seeded.configure(**{"job__nightly": "cron 0 3 * * *"})
    _snapshot(seeded)
    marker = tmp_path / "ran"
    conn = sqlite3.connect(seeded.store / "schedule.sqlite")
    conn.execute("CREATE TABLE IF NOT EXISTS apscheduler_jobs (id VARCHAR(191) PRIMARY KEY, "
                 "next_run_time FLOAT, job_state BLOB NOT NULL)")
    conn.execute("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)",
                 ("nightly", 1.0, pickle.dumps(_Planted(str(marker)))))
    conn.commit()
    conn.close()
    os.chmod(seeded.store / "schedule.sqlite", 0o600)

    seeded.cli("schedule", "--status", expect=None)

    assert not marker.exists(), "a pickled job from the store was unpickled"
    assert version_of(seeded.db) == [SEED_AT]
