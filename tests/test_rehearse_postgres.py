"""`safeguard rehearse` on the real PostgreSQL server: the copy is a database beside the
live one, restored from a fresh pg_dump; the live database must end table by table as
it was, at the same revision, with no `.sg-rehearse-*` database left on the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import HEAD, SEED_AT
from postgres_support import auxiliary_databases, database_state, version_of

from safeguard.journal import Journal
from test_rehearse import AUDIT_EVERY_PROPERTY, DUPLICATES, GOOD, SLOW, UNIQUE_STATE

pytestmark = pytest.mark.postgres

RENAMES_A_COLUMN = "7fcb413ce398"  # the first revision after the seed: ALTER TABLE properties


def rehearse(project, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    done = project.run("--json", "rehearse", *args, env=env)
    return done.returncode, json.loads(done.stdout), done.stderr


def assert_untouched(project, server, before) -> None:
    assert database_state(server, project.database) == before, "the live database changed"
    assert version_of(server, project.database) == [SEED_AT]
    assert auxiliary_databases(server, project.database) == []
    assert Journal(project.store).unfinished() == []
    assert not list((project.store / "rehearsals").iterdir())


def test_a_unique_index_on_duplicate_values_fails_the_rehearsal_and_the_live_database_is_untouched(
        pg_seeded, pg_server):
    pg_seeded.add_revision(DUPLICATES, HEAD, UNIQUE_STATE, doc="unique index on properties.state")
    before = database_state(pg_server, pg_seeded.database)

    code, out, err = rehearse(pg_seeded)

    assert code == 12, err
    assert f"would fail at revision {DUPLICATES}" in out["error"]
    assert "could not create unique index" in out["error"]
    result = out["result"]
    assert [r["status"] for r in result["revisions"]] == ["passed"] * 5 + ["failed"]
    assert "Key (state)=" in err or "could not create unique index" in result["revisions"][-1]["error"]
    assert [f["code"] for f in result["revisions"][-1]["predicted_by"]] == ["MF101"]
    assert result["copy"]["database"].endswith(f"/{pg_seeded.database}.sg-rehearse-"
                                               + result["copy"]["database"][-8:])
    assert_untouched(pg_seeded, pg_server, before)
    assert not list((pg_seeded.store / "snapshots").glob("*/manifest.json"))


def test_a_good_revision_passes_with_timings_and_locks_then_upgrade_rehearse_migrates(
        pg_seeded, pg_server):
    pg_seeded.add_revision(GOOD, HEAD, AUDIT_EVERY_PROPERTY, doc="audit every property")
    before = database_state(pg_server, pg_seeded.database)
    properties = len(before["contents"]["public.properties"])

    code, out, err = rehearse(pg_seeded)

    assert code == 0, err
    assert out["verdict"].startswith("upgrade head would succeed (6 revisions, ")
    assert all(r["status"] == "passed" and r["seconds"] >= 0 for r in out["revisions"])
    (audit,) = out["revisions"][-1]["row_changes"]
    assert audit["table"] == "audit_log" and audit["after"] - audit["before"] == properties
    # The rename holds ACCESS EXCLUSIVE on properties, until the run's one transaction commits.
    locks = {lock["table"]: (r["revision"], lock) for r in out["revisions"]
             for lock in r["exclusive_locks"]}
    revision, lock = locks["properties"]
    assert revision == RENAMES_A_COLUMN and lock["until_commit"] and lock["seconds"] > 0
    assert "ACCESS EXCLUSIVE on properties for" in pg_seeded.run("rehearse").stderr
    assert_untouched(pg_seeded, pg_server, before)

    done = pg_seeded.run("upgrade", "--rehearse")

    assert done.returncode == 0, done.stderr
    assert version_of(pg_server, pg_seeded.database) == [GOOD]
    assert auxiliary_databases(pg_server, pg_seeded.database) == []


def test_an_env_py_that_builds_its_own_url_is_refused_before_anything_is_copied(pg_seeded, pg_server):
    env_py = pg_seeded.root / "alembic" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        'section["sqlalchemy.url"] = get_database_url()',
        f'section["sqlalchemy.url"] = {pg_seeded.url!r}'))
    before = database_state(pg_server, pg_seeded.database)

    code, out, err = rehearse(pg_seeded)

    assert code == 3, err
    assert "cannot prove that a rehearsal would not touch the live database" in out["error"]
    assert database_state(pg_server, pg_seeded.database) == before
    assert auxiliary_databases(pg_server, pg_seeded.database) == []
    assert not (pg_seeded.store / "rehearsals").exists() or \
        not list((pg_seeded.store / "rehearsals").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("point", ["journal:copy:done", "journal:apply:done#2"])
def test_killed_during_a_rehearsal_then_recover_drops_the_copy(pg_seeded, pg_server, point):
    pg_seeded.add_revision(DUPLICATES, HEAD, UNIQUE_STATE)
    before = database_state(pg_server, pg_seeded.database)

    killed = pg_seeded.run("rehearse", env={"SAFEGUARD_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert len(auxiliary_databases(pg_server, pg_seeded.database)) == 1

    recovered = pg_seeded.run("--json", "recover")

    assert recovered.returncode == 0, recovered.stderr
    assert [r["action"] for r in json.loads(recovered.stdout)["recovered"]] == ["dropped"]
    assert_untouched(pg_seeded, pg_server, before)


@pytest.mark.slow
def test_sigkill_while_the_server_runs_a_revision_then_recover(pg_seeded, pg_server):
    """The server goes on running a killed client's statement: recover ends it, then
    drops the copy it was running in."""
    pg_seeded.add_revision(SLOW, HEAD, 'op.execute("SELECT pg_sleep(120)")', doc="a long statement")
    before = database_state(pg_server, pg_seeded.database)
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(pg_seeded.ini), "--url", pg_seeded.url,
         "rehearse"], cwd=pg_seeded.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ))
    try:
        deadline = time.monotonic() + 90
        with pg_server.connect() as conn:
            while not conn.execute("SELECT 1 FROM pg_stat_activity WHERE query LIKE %s",
                                   ("SELECT pg_sleep(120)%",)).fetchone():
                assert time.monotonic() < deadline and proc.poll() is None, "never reached the sleep"
                time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()

    recovered = pg_seeded.run("--json", "recover")

    assert recovered.returncode == 0, recovered.stderr
    assert [r["kind"] for r in json.loads(recovered.stdout)["recovered"]] == ["rehearse"]
    assert_untouched(pg_seeded, pg_server, before)
    with pg_server.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s",
                            ("SELECT pg_sleep(120)%",)).fetchone() == (0,)


def test_a_rehearsal_on_a_snapshot_restores_that_snapshot_beside_the_live_database(pg_seeded, pg_server):
    snapshot_id = pg_seeded.cli("snapshot", "create").stdout.strip()
    pg_seeded.add_revision(GOOD, HEAD, AUDIT_EVERY_PROPERTY)
    with pg_server.connect(pg_seeded.database) as conn:  # after the snapshot: not rehearsed on
        conn.execute("DELETE FROM audit_log")
    before = database_state(pg_server, pg_seeded.database)

    code, out, err = rehearse(pg_seeded, "--from-snapshot", snapshot_id)

    assert code == 0, err
    assert out["copy"]["source"] == f"snapshot {snapshot_id}"
    (audit,) = out["revisions"][-1]["row_changes"]
    assert audit["before"] > 0 and audit["after"] > audit["before"]
    assert_untouched(pg_seeded, pg_server, before)
