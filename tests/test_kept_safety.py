"""A manual SQLite restore keeps the database it replaces as its safety snapshot without
copying it: the replaced file itself is moved into the store as the staged copy is
renamed over the live path. What must hold: that safety snapshot brings the replaced
state back exactly (table by table), WAL pages committed but not yet checkpointed
included; it is the store's own file (0600, one name); and where the file cannot be
moved (other processes hold it), the safety snapshot is a copy, and the restore says so.
(Crashes at each step: tests/reliability/test_kept_safety_snapshot.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

from conftest import HEAD, SEED_AT, table_contents, version_of


def _restore(project, snapshot_id, *extra):
    return json.loads(project.cli("--json", "restore", snapshot_id, "--yes", *extra).stdout)


def test_the_replaced_file_becomes_the_safety_snapshot_and_restores_table_by_table(seeded):
    seeded.cli("upgrade", "head")
    replaced = table_contents(seeded.db)
    inode = os.stat(seeded.db).st_ino

    done = _restore(seeded, "latest")

    assert version_of(seeded.db) == [SEED_AT]
    safety = json.loads(seeded.cli("--json", "snapshot", "show", done["safety_snapshot"]).stdout)
    assert safety["safety"] is True and "kept" in safety["extra"]
    kept = seeded.store / "snapshots" / safety["id"] / "database.sqlite"
    info = os.stat(kept)
    # Moved, not copied: the very file that was live, now the store's alone.
    assert info.st_ino == inode and info.st_nlink == 1 and info.st_mode & 0o777 == 0o600
    assert os.stat(seeded.db).st_ino != inode
    seeded.cli("snapshot", "verify", safety["id"])

    _restore(seeded, safety["id"])
    assert table_contents(seeded.db) == replaced and version_of(seeded.db) == [HEAD]


def test_rows_committed_only_to_the_wal_are_in_the_kept_safety_snapshot(seeded, tmp_path):
    seeded.cli("upgrade", "head")
    table = next(t for t, rows in table_contents(seeded.db).items() if rows and t != "alembic_version")
    # A writer in WAL mode commits and dies before any checkpoint: that change is only
    # in the -wal file, which a move of the main file alone would lose.
    writer = subprocess.run([sys.executable, "-c", (
        "import os, signal, sqlite3\n"
        f"c = sqlite3.connect({str(seeded.db)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')\n"
        f"c.execute('DELETE FROM \"{table}\"')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")])
    assert writer.returncode == -signal.SIGKILL
    # Read on a copy: the last connection to close would fold the WAL in itself.
    copy = tmp_path / "copy.db"
    shutil.copy(seeded.db, copy)
    shutil.copy(f"{seeded.db}-wal", f"{copy}-wal")
    replaced = table_contents(copy)
    assert replaced[table] == []
    assert os.path.getsize(f"{seeded.db}-wal") > 0

    safety = _restore(seeded, "latest")["safety_snapshot"]
    assert table_contents(seeded.db)[table] != []

    _restore(seeded, safety)
    assert table_contents(seeded.db) == replaced


def test_with_other_processes_holding_the_file_the_safety_snapshot_is_a_copy(seeded):
    seeded.cli("upgrade", "head")
    replaced = table_contents(seeded.db)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(seeded.db)!r}); c.execute('SELECT 1').fetchall()\n"
        "print('open', flush=True); time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = seeded.cli("restore", "latest", "--yes", "--force")
    finally:
        holder.kill()
        holder.wait()
    assert "copying the current state (other processes have the database open" in result.output
    safety = [s for s in json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
              if s["safety"]]
    assert len(safety) == 1 and "kept" not in safety[0]["extra"]
    _restore(seeded, safety[0]["id"])
    with sqlite3.connect(seeded.db) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    assert table_contents(seeded.db) == replaced


def test_a_write_in_the_instant_before_the_swap_is_in_the_safety_snapshot_it_describes(seeded):
    """The replaced file is read (digest, row counts) beside the restore's copy, under
    the write lock, which is let go just before the swap. A process writing in that
    instant changes the file after it was read: the safety snapshot's manifest must
    then describe the bytes kept (read again), not the stale digest, or the one copy of
    that state would be refused as damaged."""
    seeded.cli("upgrade", "head")
    snapshot = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"][0]["id"]
    with closing(sqlite3.connect(seeded.db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # the write lands in the main file
    restore = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(seeded.ini), "--url", seeded.url, "--json",
         "restore", snapshot, "--yes"],
        cwd=seeded.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SAFEGUARD_PAUSE": "sqlite:restore:before-swap"})
    try:
        deadline = time.monotonic() + 60
        while _state(restore.pid) != "T":
            assert restore.poll() is None and time.monotonic() < deadline, restore.communicate()
            time.sleep(0.02)
        table = next(t for t, rows in table_contents(seeded.db).items() if rows and t != "alembic_version")
        with closing(sqlite3.connect(seeded.db, isolation_level=None)) as late:
            late.execute(f'DELETE FROM "{table}"')  # committed just before the swap
        replaced = table_contents(seeded.db)
        os.kill(restore.pid, signal.SIGCONT)
        out, err = restore.communicate(timeout=120)
    finally:
        if restore.poll() is None:
            restore.kill()
            restore.wait()
    assert restore.returncode == 0, err
    safety = json.loads(out)["safety_snapshot"]

    seeded.cli("snapshot", "verify", safety)
    _restore(seeded, safety)
    assert table_contents(seeded.db) == replaced and replaced[table] == []


def _state(pid: int) -> str:
    """The process's state letter (T: stopped), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_a_restore_stopped_by_a_signal_once_staged_leaves_nothing_beside_the_database(seeded):
    """SIGTERM after the snapshot was copied in and proven, before the swap: the restore
    stops with the database as it was, and its staged copy is removed (a random-interrupt
    run found it left behind)."""
    seeded.cli("upgrade", "head")
    before = table_contents(seeded.db)
    snapshot = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"][0]["id"]
    restore = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(seeded.ini), "--url", seeded.url,
         "restore", snapshot, "--yes"],
        cwd=seeded.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SAFEGUARD_PAUSE": "sqlite:restore:staged"})
    try:
        deadline = time.monotonic() + 60
        while _state(restore.pid) != "T":
            assert restore.poll() is None and time.monotonic() < deadline, restore.communicate()
            time.sleep(0.02)
        assert (seeded.db.parent / f".{seeded.db.name}.safeguard-restore").exists()
        os.kill(restore.pid, signal.SIGTERM)  # delivered when it goes on
        os.kill(restore.pid, signal.SIGCONT)
        _, err = restore.communicate(timeout=120)
    finally:
        if restore.poll() is None:
            restore.kill()
            restore.wait()
    assert restore.returncode == 143 and "nothing was restored" in err, err
    assert table_contents(seeded.db) == before and version_of(seeded.db) == [HEAD]
    assert sorted(p.name for p in seeded.db.parent.glob(f".{seeded.db.name}*")) == []
