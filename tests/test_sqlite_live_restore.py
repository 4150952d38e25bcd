"""SQLite restores under a live application (issue 22, section 5).

A restore replaces the database file by rename: a process that still has the old file
open goes on reading and committing into the old file, and every write it commits is
lost without an error. So a restore refuses while another process has the database
open (exit 3, naming it), unless --force says the person accepts that; nothing the
restore deletes (the -wal) is deleted before the rename that makes it unnecessary
succeeded; and a hard-linked database file is refused (a rename would split it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest
from conftest import CHAIN, table_contents
from reliability.ledger import Tally
from reliability.mounts import bind_file, require_mount
from reliability.processes import resume, start, wait_stopped

from safeguard.journal import Journal

APP = textwrap.dedent("""
    import sqlite3, sys, time, pathlib
    db, mode, go = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={mode}")
    conn.execute("CREATE TABLE IF NOT EXISTS app_log (note TEXT)")
    print("open", flush=True)
    while not go.exists():
        time.sleep(0.02)
    conn.execute("INSERT INTO app_log VALUES ('committed by the app')")
    print("committed", flush=True)
""")


def _app_rows(db) -> int:
    with closing(sqlite3.connect(db)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM app_log WHERE note = 'committed by the app'"
                                ).fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_a_restore_never_silently_loses_what_an_open_application_commits(seeded, mode, tmp_path,
                                                                        ledger):
    seeded.cli("upgrade", CHAIN[5])
    with closing(sqlite3.connect(seeded.db)) as conn:
        conn.execute(f"PRAGMA journal_mode={mode}")
        conn.execute("CREATE TABLE app_log (note TEXT)")
        conn.commit()
    snap = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    go = tmp_path / "go"
    app = subprocess.Popen([sys.executable, "-c", APP, str(seeded.db), mode, str(go)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout.readline().strip() == "open"
        restore = seeded.run("restore", snap, "--yes")
        go.touch()  # the application commits after the restore
        assert app.stdout.readline().strip() == "committed"
        app.wait(timeout=30)
    finally:
        app.kill()
        app.wait()
    kept = _app_rows(seeded.db)
    ledger(Tally(tests=1, faults=1, bad_inputs=1, data_lost=int(kept != 1)),
           race=f"restore under an open application ({mode})")
    assert kept == 1, f"the application's committed row is lost (restore exit {restore.returncode})"
    assert restore.returncode == 3, restore.stderr
    line = restore.stderr.strip().splitlines()[-1]
    assert f"pid {app.pid}" in line and "--force" in line, line


def test_force_restores_under_an_open_connection_and_says_what_it_means(seeded, tmp_path):
    snap = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", CHAIN[5])
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time\n"
                               "c = sqlite3.connect(sys.argv[1]); print('open', flush=True)\n"
                               "time.sleep(60)", str(seeded.db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        forced = seeded.run("restore", snap, "--yes", "--force")
    finally:
        holder.kill()
        holder.wait()
    assert forced.returncode == 0, forced.stderr
    assert "WARNING" in forced.stderr and f"pid {holder.pid}" in forced.stderr


def test_a_hard_linked_database_is_refused_in_one_line(seeded, tmp_path):
    snap = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", CHAIN[5])
    other = tmp_path / "other-name.db"
    os.link(seeded.db, other)
    before = table_contents(seeded.db)

    for args in (("restore", snap, "--yes"), ("upgrade", "head")):
        result = seeded.cli("-q", *args, expect=3)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "hard link" in lines[0], result.stderr
    assert table_contents(seeded.db) == before
    assert os.path.samefile(seeded.db, other)


def test_a_failed_swap_deletes_nothing_the_database_needs(seeded, tmp_path, ledger):
    """The -wal was deleted before a rename that then failed (a single-file bind mount:
    EBUSY): rows committed only in the WAL were lost. An application holds a read
    transaction (so no checkpoint can fold the rows committed after it into the file)
    while it commits five rows; the restore is forced past it. A bind-mounted file is
    refused before the restore begins now (tests/reliability/test_bind_mount.py), so the
    mount is made while the restore is paused with its copy staged. Nothing changed,
    so the restore is closed as refused (issue 33, item 15): nothing left for `recover`."""
    require_mount()
    snap = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    with closing(sqlite3.connect(seeded.db)) as conn:
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("CREATE TABLE app_log (note TEXT)")
        conn.commit()
    app = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sqlite3, sys, time
        reader = sqlite3.connect(sys.argv[1], isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM app_log").fetchone()
        writer = sqlite3.connect(sys.argv[1], isolation_level=None)
        writer.execute("PRAGMA wal_autocheckpoint=0")
        for _ in range(5):
            writer.execute("INSERT INTO app_log VALUES ('committed by the app')")
        print("committed", flush=True)
        time.sleep(120)
    """), str(seeded.db)], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout.readline().strip() == "committed"
        restore = start(seeded, "restore", snap, "--yes", "--force",
                        env={"SAFEGUARD_PAUSE": "sqlite:restore:staged"})
        try:
            wait_stopped(restore)
            with bind_file(seeded.db, seeded.db):
                resume(restore)
                code = restore.wait()
        finally:
            restore.reap()
    finally:
        app.kill()
        app.wait()
    with closing(sqlite3.connect(seeded.db)) as conn:
        rows = conn.execute("SELECT count(*) FROM app_log").fetchone()[0]
    ledger(Tally(tests=1, faults=1, data_lost=int(rows != 5)), fault="swap failed (EBUSY)",
           kind="bind mount")
    assert code == 8, restore.stderr()
    assert "the database was not changed" in restore.stderr(), restore.stderr()
    assert rows == 5
    assert Journal(seeded.store).unfinished() == []
    assert Journal(seeded.store).operations()[-1].end["outcome"] == "refused"
