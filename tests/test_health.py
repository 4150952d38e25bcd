"""Health checks that catch a bad migration: each built-in passes on a good migration
and trips on a bad one, and a tripped check restores the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import HEAD, REPO, table_contents, version_of


@pytest.fixture
def at_head(seeded):
    seeded.cli("upgrade", "head")
    return seeded


def _trips(project, body, check, *extra):
    """Add a revision with ``body``, upgrade, and expect ``check`` to fail and the
    database to come back exactly as it was."""
    project.add_revision("e1e2e3e4e5e6", HEAD, body)
    before = table_contents(project.db)
    result = project.cli("--json", "upgrade", "head", *extra, expect=7)
    report = json.loads(result.stdout)
    failed = {c["name"]: c for c in report["result"]["health"]["checks"] if c["status"] in ("failed", "error")}
    assert check in failed, report["result"]["health"]
    assert report["result"]["restored"] is True
    assert table_contents(project.db) == before and version_of(project.db) == [HEAD]
    assert f"check {check}" in report["error"]
    return failed[check]


def _passes(project, body):
    project.add_revision("e1e2e3e4e5e6", HEAD, body)
    report = json.loads(project.cli("--json", "upgrade", "head").stdout)
    return {c["name"]: c["status"] for c in report["health"]["checks"]}


def test_every_builtin_passes_on_the_example_chain(seeded):
    report = json.loads(seeded.cli("--json", "upgrade", "head").stdout)
    statuses = {c["name"]: c["status"] for c in report["health"]["checks"]}
    assert statuses == {"integrity": "passed", "revision": "passed", "drift": "passed",
                        "data_guard": "passed", "smoke": "passed",
                        "sql:transactions_reference_properties": "passed"}


def test_drift_trips_on_a_migration_that_drops_a_models_column(at_head):
    failed = _trips(at_head, 'with op.batch_alter_table("properties") as b:\n    b.drop_column("zoning")', "drift")
    assert "properties.zoning" in failed["detail"]


def test_drift_says_why_it_is_skipped_on_a_database_not_at_head(seeded):
    """Issue 30 item 9: with `metadata` configured, drift on a database behind head
    said "not configured or not applicable"; it was configured: it says where the
    database is and that the models describe head."""
    report = json.loads(seeded.cli("--json", "check", expect=None).stdout)
    drift = {c["name"]: c for c in report["checks"]}["drift"]
    assert drift["status"] == "skipped"
    assert "not configured" not in drift["detail"] and "head" in drift["detail"], drift["detail"]


def test_drift_passes_on_a_migration_the_models_agree_with(at_head):
    # An index the models do not declare is drift too; a data-only change is not.
    backfill = "op.execute(\"UPDATE properties SET zoning = 'R1' WHERE zoning IS NULL\")"
    assert _passes(at_head, backfill)["drift"] == "passed"


# The table is read from the live catalog: no static analysis can name it, so no finding
# explains which table loses rows.
DELETES_FROM_A_TABLE_FOUND_AT_RUN_TIME = """\
bind = op.get_bind()
table = bind.execute(sa.text("SELECT name FROM sqlite_master WHERE name LIKE 'docu%'")).scalar()
bind.execute(sa.text(f"DELETE FROM {table} WHERE rowid % 2 = 0"))
"""


def test_data_guard_trips_on_rows_deleted_without_saying_so(at_head):
    body = DELETES_FROM_A_TABLE_FOUND_AT_RUN_TIME
    failed = _trips(at_head, body, "data_guard")
    assert "documents lost" in failed["detail"]


def test_data_guard_accepts_a_delete_the_revision_declares(at_head):
    statuses = _passes(at_head, 'op.execute("DELETE FROM audit_log WHERE action = \'read\'")')
    assert statuses["data_guard"] == "passed"


def test_data_guard_accepts_an_acknowledged_revision(at_head):
    body = DELETES_FROM_A_TABLE_FOUND_AT_RUN_TIME
    path = at_head.add_revision("e1e2e3e4e5e6", HEAD, body)
    path.write_text(path.read_text() + '\nsafeguard = {"destructive": True, "reason": "halve the documents"}\n')
    report = json.loads(at_head.cli("--json", "upgrade", "head").stdout)
    assert {c["name"]: c["status"] for c in report["health"]["checks"]}["data_guard"] == "passed"


def test_data_guard_says_a_loss_was_expected_and_acknowledged(at_head):
    """It said "no table lost rows" for a run that deleted half a table under an
    acknowledgement (issue 22, section 6)."""
    body = DELETES_FROM_A_TABLE_FOUND_AT_RUN_TIME
    path = at_head.add_revision("e1e2e3e4e5e7", HEAD, body)
    path.write_text(path.read_text() + '\nsafeguard = {"destructive": True, "reason": "halve the documents"}\n')
    report = json.loads(at_head.cli("--json", "upgrade", "head").stdout)
    guard = {c["name"]: c for c in report["health"]["checks"]}["data_guard"]
    assert guard["status"] == "passed"
    assert "no table lost rows" not in guard["detail"], guard["detail"]
    assert "documents lost" in guard["detail"] and "acknowledged" in guard["detail"] \
        and "e1e2e3e4e5e7" in guard["detail"], guard["detail"]


def test_data_guard_cites_the_drop_for_a_table_that_is_gone(at_head):
    """Issue 30 item 9: a table emptied (DS104) and then dropped (DS102) is gone
    because of the drop; the data guard cited the first finding that named it."""
    at_head.add_revision("e1e2e3e4e5e6", HEAD, 'op.execute("DELETE FROM audit_log")\n'
                                               'op.drop_table("audit_log")')
    # drift fails the run (the models still have audit_log); the data guard's word stands
    report = json.loads(at_head.cli("--json", "upgrade", "head", expect=7).stdout)
    guard = {c["name"]: c for c in report["result"]["health"]["checks"]}["data_guard"]
    assert guard["status"] == "passed"
    assert "audit_log" in guard["detail"] and "(DS102)" in guard["detail"], guard["detail"]


def test_integrity_trips_on_a_foreign_key_violation(at_head):
    body = ("op.execute(\"UPDATE documents SET property_id = 'ffffffffffffffffffffffffffffffff' "
            "WHERE id = (SELECT id FROM documents ORDER BY id LIMIT 1)\")")
    failed = _trips(at_head, body, "integrity")
    assert "foreign key violation: documents" in failed["detail"]


def test_revision_trips_when_the_database_is_not_at_the_target(at_head):
    # Leaves a second row in alembic_version: the database now claims two heads.
    # An insert is safe to the classifier, so only --policy always takes a snapshot.
    body = "op.execute(\"INSERT INTO alembic_version VALUES ('7ff34d85758f')\")"
    failed = _trips(at_head, body, "revision", "--policy", "always")
    assert "expected e1e2e3e4e5e6" in failed["detail"]


def test_smoke_check_trips_when_the_application_cannot_read_its_tables(at_head):
    failed = _trips(at_head, 'op.rename_table("properties", "property_records")', "smoke")
    assert "properties" in failed["detail"]


def test_a_user_sql_check_failing_after_a_successful_migration(at_head):
    at_head.configure(sql_check__every_property_zoned="SELECT count(*) = 0 FROM properties WHERE zoning IS NULL")
    failed = _trips(at_head, "op.execute(\"UPDATE properties SET zoning = NULL WHERE rowid = 1\")",
                    "sql:every_property_zoned")
    # Issue 30 item 9: said "returned (0,)" where a passing check says "returned true".
    assert failed["status"] == "failed" and failed["detail"] == "returned false"


def test_a_user_sql_check_returning_rows_shows_them(at_head):
    at_head.configure(sql_check__no_unzoned="SELECT id, zoning FROM properties WHERE zoning = 'X'")
    failed = _trips(at_head, "op.execute(\"UPDATE properties SET zoning = 'X' WHERE rowid <= 2\")",
                    "sql:no_unzoned")
    assert failed["status"] == "failed" and failed["detail"].startswith("returned 2 rows: (")


def test_a_user_python_check_failing_after_a_successful_migration(at_head):
    at_head.configure(checks="tests.support.team_checks:properties_have_zoning")
    failed = _trips(at_head, 'with op.batch_alter_table("properties") as b:\n    b.drop_column("zoning")',
                    "python:tests.support.team_checks:properties_have_zoning")
    assert "zoning" in failed["detail"]


def test_a_check_that_cannot_run_is_an_error_and_restores(at_head):
    at_head.configure(checks="tests.support.no_such_module:check")
    failed = _trips(at_head, "op.execute(\"UPDATE properties SET zoning = 'R2'\")",
                    "python:tests.support.no_such_module:check")
    assert failed["status"] == "error" and "cannot be loaded" in failed["detail"]


def test_a_sql_check_with_a_syntax_error_is_an_error(at_head):
    at_head.configure(sql_check__broken="SELEKT 1")
    failed = _trips(at_head, "op.execute(\"UPDATE properties SET zoning = 'R2'\")", "sql:broken")
    assert failed["status"] == "error" and "syntax error" in failed["detail"]


def test_a_check_that_hangs_times_out(at_head):
    at_head.configure(checks="tests.support.team_checks:hangs", check_timeout="0.5")
    failed = _trips(at_head, "op.execute(\"UPDATE properties SET zoning = 'R2'\")",
                    "python:tests.support.team_checks:hangs")
    assert "did not finish within 0.5s" in failed["detail"]


def test_check_command_json(at_head):
    at_head.configure(checks="tests.support.team_checks:no_unassigned_tenants")
    report = json.loads(at_head.cli("--json", "check").stdout)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == [
        "integrity", "revision", "drift", "data_guard", "smoke",
        "sql:transactions_reference_properties", "python:tests.support.team_checks:no_unassigned_tenants"]
    assert set(report["checks"][0]) == {"name", "status", "duration", "detail"}


def test_check_command_exits_7_when_a_check_fails(at_head):
    at_head.configure(sql_check__impossible="SELECT 1 = 0")
    result = at_head.cli("check", expect=7)
    assert "sql:impossible failed" in result.stderr


def test_checks_from_the_entry_point_group(at_head, tmp_path):
    site = tmp_path / "site"
    dist = site / "teamchecks-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: teamchecks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[safeguard.checks]\nzoning = tests.support.team_checks:properties_have_zoning\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    result = subprocess.run([sys.executable, "-m", "safeguard", "-c", str(at_head.ini), "--url", at_head.url,
                             "--json", "check"], capture_output=True, text=True, env=env,
                            cwd=REPO)
    names = [c["name"] for c in json.loads(result.stdout)["checks"]]
    assert "plugin:zoning" in names


def test_a_restore_whose_checks_fail_exits_7_and_shows_them(at_head):
    """A manual restore runs the health checks on the restored database: when one
    fails, the restore says so (exit 7, the checks listed) and leaves the restored
    database and the safety snapshot in place, with nothing pending."""
    snapshot = json.loads(at_head.cli("--json", "snapshot", "create").stdout)["id"]
    restored = table_contents(at_head.db)
    at_head.cli("upgrade", "head")  # nothing to do; the database is as the snapshot holds it
    at_head.configure(sql_check__impossible="SELECT 1 = 0")
    human = at_head.cli("restore", snapshot, "--yes", expect=7)
    assert "failed   sql:impossible" in human.stderr
    assert "passed   revision" in human.stderr
    assert "safeguard: error: " in human.stderr and "sql:impossible failed" in human.stderr
    assert table_contents(at_head.db) == restored and version_of(at_head.db) == [HEAD]
    snapshots = json.loads(at_head.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert len(snapshots) == 3  # the one restored and the two safety snapshots
    report = json.loads(at_head.cli("--json", "restore", snapshot, "--yes", expect=7).stdout)
    assert report["exit_code"] == 7
    assert report["result"]["health"]["ok"] is False
    assert report["result"]["safety_snapshot"] in {s["id"] for s in json.loads(
        at_head.cli("--json", "snapshot", "list").stdout)["snapshots"]}
    # Nothing is left pending: the next change is not refused.
    assert "Nothing to recover" in at_head.cli("recover").stderr
