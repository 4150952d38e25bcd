"""`safeguard rehearse`: the upgrade on a throwaway copy of the real (SQLite) database.

Every test runs the real CLI on the seeded example database and proves the one thing
a rehearsal promises: the live file ends byte for byte as it was, at the same
revision, with no copy of it left behind, whatever the rehearsal found (or whatever
killed it).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import HEAD, SEED_AT, version_of

from safeguard.journal import Journal

DUPLICATES = "dup000000001"
GOOD = "g00d00000001"
SLOW = "s10w00000001"

UNIQUE_STATE = 'op.create_index("uq_properties_state", "properties", ["state"], unique=True)'
# One audit row per property: a data migration that changes a row count.
AUDIT_EVERY_PROPERTY = """\
op.execute("INSERT INTO audit_log (id, table_name, record_id, action, changes, actor, created_at) "
           "SELECT id, 'properties', id, 'rehearsed', NULL, 'migration', created_at FROM properties")
"""


def live_state(project) -> dict:
    """The live database's bytes and every file beside it (a -journal, -wal...)."""
    return {p.name: p.read_bytes() for p in project.root.glob("poolula.db*")}


def rehearsals_left(project) -> list[str]:
    root = project.store / "rehearsals"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def rehearse(project, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    """`safeguard --json rehearse ARGS` as a process: exit code, JSON, stderr."""
    done = project.run("--json", "rehearse", *args, env=env)
    return done.returncode, json.loads(done.stdout), done.stderr


def assert_untouched(project, before: dict) -> None:
    assert live_state(project) == before, "the live database changed"
    assert version_of(project.db) == [SEED_AT]
    assert rehearsals_left(project) == []
    assert Journal(project.store).unfinished() == []


def test_a_unique_index_on_duplicate_values_fails_the_rehearsal_and_the_live_database_is_untouched(seeded):
    seeded.add_revision(DUPLICATES, HEAD, UNIQUE_STATE, doc="unique index on properties.state")
    before = live_state(seeded)

    code, out, err = rehearse(seeded)

    assert code == 12, err
    assert out["kind"] == "RehearsalFailedError"
    assert f"would fail at revision {DUPLICATES}" in out["error"]
    assert "UNIQUE constraint failed: properties.state" in out["error"]
    assert err.strip().splitlines()[-1].startswith(f"safeguard: error: upgrade head would fail at "
                                                   f"revision {DUPLICATES}")
    result = out["result"]
    assert result["failed_revision"] == DUPLICATES
    assert [r["status"] for r in result["revisions"]] == ["passed"] * 5 + ["failed"]
    failed = result["revisions"][-1]
    assert "UNIQUE constraint failed" in failed["error"]
    assert [f["code"] for f in failed["predicted_by"]] == ["MF101"]
    assert result["health"] is None  # the checks never ran: a revision had failed
    # The live database: byte for byte, same revision, no snapshot needed or taken.
    assert_untouched(seeded, before)
    assert not (seeded.store / "snapshots").exists() or not list((seeded.store / "snapshots").iterdir())
    (op,) = [o for o in Journal(seeded.store).operations() if o.kind == "rehearse"]
    assert op.end["outcome"] == "failed"
    assert [s["step"] for s in op.steps if s["status"] == "done"][0] == "copy"
    assert op.steps[-1]["step"] == "drop" and op.steps[-1]["status"] == "done"


def test_a_destructive_finding_is_not_offered_as_the_prediction_of_a_failure(seeded):
    """Issue 30 item 9: a DS code predicts a loss of data, never a failure: a revision
    that drops a table and then fails for another reason was "predicted by DS102"."""
    seeded.add_revision(DUPLICATES, HEAD, 'op.drop_table("tenants")\n'
                        'op.execute("INSERT INTO no_such_table VALUES (1)")')
    code, out, err = rehearse(seeded)
    assert code == 12, err
    failed = out["result"]["revisions"][-1]
    assert failed["status"] == "failed" and failed["verdict"] == "destructive"
    assert failed["predicted_by"] == []
    assert "predicted by" not in out["error"] and "predicted by" not in err


def test_a_good_revision_passes_with_timings_and_row_changes_then_upgrade_rehearse_migrates(seeded):
    seeded.add_revision(GOOD, HEAD, AUDIT_EVERY_PROPERTY, doc="audit every property")
    before = live_state(seeded)

    code, out, err = rehearse(seeded)

    assert code == 0, err
    assert out["ok"] and out["outcome"] == "passed"
    assert out["verdict"].startswith("upgrade head would succeed (6 revisions, ")
    assert " on a copy of " in out["verdict"] and " taken at " in out["verdict"]
    assert [r["status"] for r in out["revisions"]] == ["passed"] * 6
    assert all(r["seconds"] is not None and r["seconds"] >= 0 for r in out["revisions"])
    (audit,) = out["revisions"][-1]["row_changes"]
    assert audit == {"table": "audit_log", "before": 80, "after": 120}
    assert all(c["status"] == "passed" for c in out["health"]["checks"] if c["status"] != "skipped")
    assert out["connections_to_copy"] > 0
    assert out["copy"]["source"] == "the live database"
    assert_untouched(seeded, before)

    done = seeded.run("upgrade", "--rehearse")

    assert done.returncode == 0, done.stderr
    assert "Verdict: upgrade head would succeed" in done.stderr
    assert done.stderr.index("Verdict:") < done.stderr.index("The rehearsal passed")
    assert version_of(seeded.db) == [GOOD]
    assert rehearsals_left(seeded) == []


def test_the_human_report_names_each_revision_its_time_and_the_verdict(seeded):
    seeded.add_revision(GOOD, HEAD, AUDIT_EVERY_PROPERTY, doc="audit every property")

    done = seeded.run("rehearse")

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    row = next(line for line in lines if f"-> {GOOD}" in line and line.lstrip().startswith("passed"))
    assert " s  audit every property" in row
    assert any("rows: audit_log +40 (80 -> 120)" in line for line in lines)
    assert any(line.startswith("Identity check: all ") for line in lines)
    assert lines[-1].startswith("Verdict: upgrade head would succeed (6 revisions")


def test_upgrade_rehearse_does_not_touch_the_database_when_the_rehearsal_fails(seeded):
    seeded.add_revision(DUPLICATES, HEAD, UNIQUE_STATE)
    before = live_state(seeded)

    done = seeded.run("upgrade", "--rehearse")

    assert done.returncode == 12, done.stderr
    assert "The rehearsal passed" not in done.stderr
    assert_untouched(seeded, before)
    assert [o.kind for o in Journal(seeded.store).operations()][-1] == "rehearse"


def test_an_env_py_that_builds_its_own_url_is_refused_before_anything_is_copied(seeded):
    env_py = seeded.root / "alembic" / "env.py"
    # The live file, named by env.py itself: --url and DATABASE_URL make no difference.
    env_py.write_text(env_py.read_text().replace(
        'section["sqlalchemy.url"] = get_database_url()',
        f'section["sqlalchemy.url"] = "sqlite:///{seeded.db}"'))
    seeded.add_revision(GOOD, HEAD, AUDIT_EVERY_PROPERTY)
    before = live_state(seeded)
    journal_before = (seeded.store / "journal.jsonl").read_bytes()

    code, out, err = rehearse(seeded)

    assert code == 3, err
    assert out["kind"] == "DatabaseMismatchError"
    assert f"env.py connects to {seeded.db}" in out["error"]
    assert "cannot prove that a rehearsal would not touch the live database" in out["error"]
    assert len([line for line in err.splitlines() if line.startswith("safeguard: error:")]) == 1
    assert "Applying" not in err and "Copying" not in err
    assert live_state(seeded) == before
    assert (seeded.store / "journal.jsonl").read_bytes() == journal_before
    assert rehearsals_left(seeded) == []


def test_a_check_that_connects_to_the_live_database_is_refused_during_the_rehearsal(seeded):
    """The identity guard covers the whole rehearsal, not only env.py: an application
    smoke check that builds its own URL would have read the live database."""
    (seeded.root / "rogue_smoke.py").write_text(
        "from sqlalchemy import create_engine, text\n\n"
        "def check():\n"
        f"    with create_engine('sqlite:///{seeded.db}').connect() as conn:\n"
        "        return conn.execute(text('SELECT 1')).scalar() == 1\n")
    seeded.configure(smoke_check="rogue_smoke:check")
    before = live_state(seeded)

    code, out, err = rehearse(seeded)

    assert code == 12, err
    assert "would fail its health checks: check smoke error" in out["error"]
    assert f"the rehearsal connected to {seeded.db}" in out["error"]
    assert_untouched(seeded, before)


def test_a_rehearsal_on_a_snapshot_uses_the_snapshot_not_the_live_database(seeded):
    snapshot_id = seeded.cli("snapshot", "create", "--label", "before-dups").stdout.strip()
    seeded.add_revision(GOOD, HEAD, AUDIT_EVERY_PROPERTY)
    # Rows added to the live database after the snapshot: the rehearsal must not see them.
    with sqlite3.connect(seeded.db) as conn:
        conn.execute("INSERT INTO audit_log (id, table_name, record_id, action, changes, actor, "
                     "created_at) VALUES ('x', 'properties', 'x', 'manual', NULL, 'me', "
                     "'2026-01-01 00:00:00')")
    before = live_state(seeded)

    code, out, err = rehearse(seeded, "--from-snapshot", snapshot_id)

    assert code == 0, err
    assert out["copy"]["source"] == f"snapshot {snapshot_id}"
    (audit,) = out["revisions"][-1]["row_changes"]
    assert audit == {"table": "audit_log", "before": 80, "after": 120}
    assert_untouched(seeded, before)


def test_an_unknown_snapshot_is_refused_before_anything_is_copied(seeded):
    code, out, err = rehearse(seeded, "--from-snapshot", "20260101T000000Z-abcdef")
    assert code == 3 and out["kind"] == "SnapshotNotFoundError", err
    assert rehearsals_left(seeded) == []


# -- crashes ------------------------------------------------------------------------------

KILL_POINTS = [
    "journal:copy:started",
    "sqlite:snapshot:copied",
    "journal:copy:done",
    "journal:apply:started#1",
    "journal:apply:done#3",
    "journal:apply:failed",
    "journal:drop:started",
]


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_during_a_rehearsal_then_recover_leaves_no_copy_and_the_database_unchanged(seeded, point):
    seeded.add_revision(DUPLICATES, HEAD, UNIQUE_STATE)
    before = live_state(seeded)

    killed = seeded.run("rehearse", env={"SAFEGUARD_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr[-2000:])
    # An interrupted rehearsal blocks nothing: it never changed the live database.
    assert seeded.run("snapshot", "create").returncode == 0

    recovered = seeded.run("--json", "recover")

    assert recovered.returncode == 0, recovered.stderr
    (done,) = json.loads(recovered.stdout)["recovered"]
    assert done["kind"] == "rehearse" and done["action"] == "dropped"
    assert_untouched(seeded, before)


@pytest.mark.slow
def test_sigkill_from_outside_while_a_revision_runs_then_recover(seeded):
    seeded.add_revision(SLOW, HEAD, "import time\ntime.sleep(60)", doc="a long data migration")
    before = live_state(seeded)
    journal = Journal(seeded.store)
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(seeded.ini), "--url", seeded.url, "rehearse"],
        cwd=seeded.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not any(e.get("step") == "apply" and e.get("revision") == SLOW
                      for e in journal.entries()):
            assert time.monotonic() < deadline and proc.poll() is None, "the slow revision never started"
            time.sleep(0.1)
        assert rehearsals_left(seeded), "the copy should exist while the rehearsal runs"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()

    recovered = seeded.run("--json", "recover")

    assert recovered.returncode == 0, recovered.stderr
    assert [r["kind"] for r in json.loads(recovered.stdout)["recovered"]] == ["rehearse"]
    assert_untouched(seeded, before)


@pytest.mark.slow
def test_recover_leaves_a_running_rehearsal_alone(seeded):
    seeded.add_revision(GOOD, HEAD, AUDIT_EVERY_PROPERTY)
    before = live_state(seeded)
    paused = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(seeded.ini), "--url", seeded.url,
         "--json", "rehearse"],
        cwd=seeded.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SAFEGUARD_PAUSE": "journal:apply:started#2"})
    try:
        deadline = time.monotonic() + 60
        while _state(paused.pid) != "T":
            assert time.monotonic() < deadline and paused.poll() is None, "never paused"
            time.sleep(0.05)

        recovered = seeded.run("--json", "recover")

        assert recovered.returncode == 0, recovered.stderr
        (running,) = json.loads(recovered.stdout)["recovered"]
        assert running["action"] == "running"
        assert len(rehearsals_left(seeded)) == 1
        os.kill(paused.pid, signal.SIGCONT)
        out, err = paused.communicate(timeout=120)
    finally:
        paused.kill()
    assert paused.returncode == 0, err
    assert json.loads(out)["ok"]
    assert_untouched(seeded, before)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


TOUCHES_LIVE = "11e000000001"


@pytest.mark.parametrize("how", ["sqlite3.connect", "open for writing", "a child process"])
def test_a_revision_that_reaches_the_live_file_itself_fails_the_rehearsal_loudly(seeded, how):
    """Issue 33, item 5: a revision that opens its own driver connection to the live
    file changed the live database, and the rehearsal still said "would succeed"."""
    live = str(seeded.db.resolve())
    bodies = {
        "sqlite3.connect": f"""
            import sqlite3
            conn = sqlite3.connect({live!r})
            conn.execute("DELETE FROM audit_log")
            conn.commit()
            conn.close()
        """,
        "open for writing": f"""
            with open({live!r}, "r+b") as f:
                f.seek(0, 2)
                f.write(b"")
        """,
        "a child process": f"""
            import subprocess, sys
            subprocess.run([sys.executable, "-c", "import sqlite3; c = sqlite3.connect({live!r}); "
                            "c.execute('DELETE FROM audit_log'); c.commit()"], check=True)
        """,
    }
    seeded.add_revision(TOUCHES_LIVE, HEAD, bodies[how], doc="reaches the live file")
    with sqlite3.connect(seeded.db) as conn:
        audit_rows = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    conn.close()

    code, report, stderr = rehearse(seeded, "head")

    assert code == 12, stderr
    assert report["result"]["outcome"] == "failed"
    assert live in report["error"], report["error"]
    if how == "a child process":  # out of reach: found afterwards, and said
        assert f"the live database {live} changed while the rehearsal ran" in report["error"]
    else:  # stopped before it changed anything
        with sqlite3.connect(seeded.db) as conn:
            assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == audit_rows > 0
        conn.close()
        assert "live database" in report["result"]["verdict"]
        assert version_of(seeded.db) == [SEED_AT]
    assert rehearsals_left(seeded) == [] and Journal(seeded.store).unfinished() == []
