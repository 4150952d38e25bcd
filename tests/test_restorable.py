"""A run refuses early when the undo it relies on could not run (issue 22, section 4).

SQLite restores by writing a staging copy beside the database and renaming it into
place: with no room (or no write permission) beside the database, a failed run could
not be undone. That is refused before anything is snapshotted or migrated (exit 3,
naming what is missing), not found out after migrating.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager

from conftest import HEAD, SEED_AT, table_contents, version_of
from reliability.ledger import Tally
from reliability.mounts import read_only, tmpfs


def _size(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextmanager
def _no_room_beside_the_database(seeded, tmp_path):
    """The project on a tmpfs with room for its files and half the database more: too
    little for a restore's staging copy beside the database."""
    seeded.configure(store=str(tmp_path / "store"))
    saved = tmp_path / "saved"
    shutil.copytree(seeded.root, saved)
    size = seeded.db.stat().st_size
    with tmpfs(seeded.root, _size(saved) + size // 2 + 64 * 1024):
        shutil.copytree(saved, seeded.root, dirs_exist_ok=True)
        yield


def test_no_room_beside_the_database_for_the_restore_is_refused_before_migrating(
        seeded, tmp_path, ledger):
    seeded.add_revision("f1f1f1f1f1f1", HEAD, 'op.drop_table("tenants")\nraise RuntimeError("boom")')
    before = table_contents(seeded.db)
    with _no_room_beside_the_database(seeded, tmp_path):
        result = seeded.run("upgrade", "head")
        backup = seeded.run("snapshot", "create")  # could not be restored either
        after = table_contents(seeded.db)
        version = version_of(seeded.db)
    ledger(Tally(tests=1, faults=1, bad_inputs=1, data_lost=int(after != before)),
           fault="no room beside the database")
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("safeguard: error:")]
    assert len(lines) == 1 and "space" in lines[0] and str(seeded.root) in lines[0], result.stderr
    assert after == before and version == [SEED_AT]
    assert backup.returncode == 3 and "space" in backup.stderr, backup.stderr


def test_a_read_only_database_directory_is_refused_before_migrating(seeded, tmp_path, ledger):
    """Seen in the field: the revision failed, then the restore could not create its
    staging file (exit 8) and the operation stayed open although nothing had changed.
    A read-only mount makes the file read-only too, so either refusal may come first
    (the database's, or the directory's); both are before anything is written."""
    seeded.configure(store=str(tmp_path / "store"))
    seeded.add_revision("f2f2f2f2f2f2", HEAD, 'op.drop_table("tenants")\nraise RuntimeError("boom")')
    before = table_contents(seeded.db)
    with read_only(seeded.root):
        result = seeded.run("upgrade", "head")
        after = table_contents(seeded.db)
    ledger(Tally(tests=1, faults=1, bad_inputs=1, data_lost=int(after != before)),
           fault="read-only database directory")
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("safeguard: error:")]
    assert len(lines) == 1 and str(seeded.root) in lines[0], result.stderr
    assert "cannot write in" in lines[0] or "not readable and writable" in lines[0], lines[0]
    assert after == before and version_of(seeded.db) == [SEED_AT]
    nothing_pending = seeded.run("log", "--json")
    assert nothing_pending.returncode == 0 and '"finished": false' not in nothing_pending.stdout


def test_plan_reports_a_store_too_small_for_the_snapshot(seeded, tmp_path):
    """Issue 30 item 4: `plan` said "Undo: snapshot" over a store that cannot hold one;
    the run then refused at deploy time. `plan` names the store's free space and exits
    as the run would (3), touching nothing."""
    store = tmp_path / "store"
    seeded.configure(store=str(store))
    before = table_contents(seeded.db)
    with tmpfs(store, 64 * 1024):
        result = seeded.run("--json", "plan")
        human = seeded.run("plan")
        leftover = sorted(p.name for p in store.iterdir())
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    failed = [p for p in report["preconditions"]["items"] if p["status"] == "failed"]
    assert [p["name"] for p in failed] == ["store"] and "free" in failed[0]["detail"]
    assert human.returncode == 3 and "store" in human.stdout
    assert leftover == [] and table_contents(seeded.db) == before


def test_plan_reports_no_room_beside_the_database_for_the_restore(seeded, tmp_path):
    with _no_room_beside_the_database(seeded, tmp_path):
        result = seeded.run("--json", "plan")
    assert result.returncode == 3, result.stderr
    failed = [p for p in json.loads(result.stdout)["preconditions"]["items"]
              if p["status"] == "failed"]
    assert [p["name"] for p in failed] == ["restore"] and "space" in failed[0]["detail"]
