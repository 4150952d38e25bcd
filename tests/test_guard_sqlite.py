"""The guarded upgrade on real SQLite files: the user's story end to end."""

from __future__ import annotations

import json
import sqlite3

from conftest import CHAIN, HEAD, SEED_AT, schema_of, table_contents, version_of

# A batch rebuild that fails half-way: SQLite has no transactional DDL under Alembic,
# so the added column stays and `_alembic_tmp_properties` is left behind; the NOT NULL
# copy fails on the demo rows whose year_built is NULL.
EXPLODES_HALF_WAY = """\
op.add_column("properties", sa.Column("survey_note", sa.String(), nullable=True))
with op.batch_alter_table("properties") as batch_op:
    batch_op.alter_column("year_built", existing_type=sa.Integer(), nullable=False)
"""

# Succeeds, but leaves a document pointing at a property that does not exist.
BREAKS_A_FOREIGN_KEY = """\
op.execute(
    "UPDATE documents SET property_id = 'ffffffffffffffffffffffffffffffff' "
    "WHERE id = (SELECT id FROM documents ORDER BY id LIMIT 1)"
)
"""


def test_upgrade_from_empty_database_reaches_head(project):
    project.cli("upgrade", "head", "--create")
    assert version_of(project.db) == [HEAD]
    assert project.cli("current").stdout.strip() == HEAD


def test_demo_rows_survive_every_data_migration(seeded):
    before = table_contents(seeded.db)
    conn = sqlite3.connect(seeded.db)
    old = {row[0]: row[1:] for row in conn.execute(
        "SELECT id, property_type, year_built, address, city, state FROM properties")}
    conn.close()

    result = seeded.cli("--json", "upgrade", "head")
    report = json.loads(result.stdout)
    assert report["outcome"] == "migrated"
    assert report["applied"] == list(CHAIN[4:])

    after = table_contents(seeded.db)
    for table in ("transactions", "documents", "obligations", "audit_log", "tenants"):
        assert len(after[table]) == len(before[table]) > 0, table
    conn = sqlite3.connect(seeded.db)
    new = {row[0]: row[1:] for row in conn.execute(
        "SELECT id, usage_type, year_built, full_address FROM properties")}
    conn.close()
    assert new.keys() == old.keys()
    for pid, (property_type, year_text, address, city, state) in old.items():
        usage_type, year_built, full_address = new[pid]
        assert usage_type == property_type
        assert year_built == (int(year_text) if year_text else None)
        if address is not None:
            assert full_address == f"{address}, {city}, {state}"


def test_a_safe_only_run_on_sqlite_is_undone_by_a_snapshot_too(project):
    """Issue 13 reversed "safe-only runs take no snapshot": SQLite commits DDL statement
    by statement, so every run that executes a revision is undone by a snapshot."""
    result = project.cli("--json", "upgrade", SEED_AT, "--create")
    report = json.loads(result.stdout)
    assert report["outcome"] == "migrated"
    assert [s["verdict"] for s in report["plan"]["steps"]] == ["safe"] * 4
    assert report["plan"]["undo"]["by"] == "snapshot" and "SQLite" in report["plan"]["undo"]["reason"]
    listed = json.loads(project.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert [s["id"] for s in listed] == [report["snapshot"]["id"]]


def test_destructive_run_takes_exactly_one_snapshot_before_the_first_destructive_revision(seeded):
    pre_run = table_contents(seeded.db)
    report = json.loads(seeded.cli("--json", "upgrade", "head").stdout)
    snapshots = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert len(snapshots) == 1
    snap = snapshots[0]
    assert snap["id"] == report["snapshot"]["id"]
    assert snap["revision"] == SEED_AT and snap["engine"] == "sqlite"
    assert report["plan"]["steps"][0]["verdict"] == "destructive"

    # The journal shows the snapshot finished before the first revision was applied.
    steps = [json.loads(line) for line in (seeded.store / "journal.jsonl").read_text().splitlines()]
    order = [(e["step"], e["status"], e.get("revision")) for e in steps if e["event"] == "step"]
    assert order.index(("snapshot", "done", None)) < order.index(("apply", "started", CHAIN[4]))

    # The snapshot holds the pre-run data, byte for byte in content.
    payload = seeded.store / "snapshots" / snap["id"] / "database.sqlite"
    assert table_contents(payload) == pre_run
    assert snap["row_counts"] == {t: len(rows) for t, rows in pre_run.items()}


def test_revision_that_raises_half_way_is_rolled_back(seeded):
    seeded.add_revision("a1b2c3d4e5f6", HEAD, EXPLODES_HALF_WAY, doc="require year_built")
    seeded.cli("upgrade", HEAD)
    pre_run, pre_schema = table_contents(seeded.db), schema_of(seeded.db)

    result = seeded.cli("--json", "upgrade", "head", expect=6)

    assert table_contents(seeded.db) == pre_run
    assert schema_of(seeded.db) == pre_schema  # no survey_note, no _alembic_tmp_properties
    assert version_of(seeded.db) == [HEAD]
    report = json.loads(result.stdout)
    assert report["kind"] == "MigrationFailedError"
    assert report["result"]["failed_revision"] == "a1b2c3d4e5f6"
    assert report["result"]["restored"] is True
    snapshot_id = report["result"]["snapshot"]["id"]
    message = result.stderr.strip().splitlines()[-1]
    assert "a1b2c3d4e5f6" in message and snapshot_id in message and HEAD in message
    assert "NOT NULL" in message


def test_failing_health_check_after_a_successful_revision_is_rolled_back(seeded):
    seeded.cli("upgrade", HEAD)
    seeded.add_revision("b2c3d4e5f6a1", HEAD, BREAKS_A_FOREIGN_KEY, doc="re-point a document")
    pre_run = table_contents(seeded.db)

    result = seeded.cli("upgrade", "head", expect=7)

    assert table_contents(seeded.db) == pre_run
    assert version_of(seeded.db) == [HEAD]
    assert "foreign key violation" in result.stderr
    assert "restored snapshot" in result.stderr


def test_wal_database_with_an_open_writer_is_restored_to_its_committed_state(seeded):
    seeded.cli("upgrade", HEAD)
    writer = sqlite3.connect(seeded.db, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE app_events (n INTEGER)")
    writer.execute("INSERT INTO app_events VALUES (1)")  # committed, still in the -wal file
    assert (seeded.db.with_name("poolula.db-wal")).stat().st_size > 0
    pre_run = table_contents(seeded.db)

    seeded.add_revision("b2c3d4e5f6a1", HEAD, BREAKS_A_FOREIGN_KEY)
    seeded.cli("upgrade", "head", expect=7)

    writer.close()
    assert table_contents(seeded.db) == pre_run
    assert version_of(seeded.db) == [HEAD]


def test_dry_run_prints_the_plan_and_touches_nothing(seeded):
    before = table_contents(seeded.db)
    result = seeded.cli("--json", "upgrade", "head", "--dry-run")
    plan = json.loads(result.stdout)["plan"]
    assert [s["revision"] for s in plan["steps"]] == list(CHAIN[4:])
    assert plan["snapshot"] is True
    assert table_contents(seeded.db) == before
    assert not list((seeded.store / "snapshots").glob("*"))


def test_offline_sql_touches_no_database(project):
    # Up to the first batch revision: batch mode on SQLite must read the live table,
    # which Alembic's offline mode cannot do.
    result = project.cli("upgrade", SEED_AT, "--sql")
    assert "CREATE TABLE properties" in result.stdout
    assert "CREATE TABLE tenants" in result.stdout
    assert not project.db.exists()
    assert not project.store.exists()


def test_policy_always_snapshots_even_a_safe_run(project):
    project.cli("upgrade", CHAIN[0], "--create")
    report = json.loads(project.cli("--json", "upgrade", SEED_AT, "--policy", "always").stdout)
    assert report["snapshot"] is not None


def test_policy_never_migrates_without_a_snapshot(seeded):
    report = json.loads(seeded.cli("--json", "upgrade", "head", "--policy", "never").stdout)
    assert report["outcome"] == "migrated" and report["snapshot"] is None


def test_downgrade_is_guarded_too(seeded):
    seeded.cli("upgrade", "head")
    # Downgrading 7ff34d85758f drops full_address: destructive, so a snapshot first.
    report = json.loads(seeded.cli("--json", "downgrade", CHAIN[-3]).stdout)
    assert report["outcome"] == "migrated"
    assert [s["revision"] for s in report["plan"]["steps"]] == [CHAIN[-1], CHAIN[-2]]
    assert report["snapshot"]["revision"] == HEAD
    assert version_of(seeded.db) == [CHAIN[-3]]


def test_relative_and_prefix_targets(seeded):
    seeded.cli("upgrade", "+2")
    assert version_of(seeded.db) == [CHAIN[5]]
    seeded.cli("upgrade", CHAIN[7][:6])
    assert version_of(seeded.db) == [CHAIN[7]]


def test_nothing_to_do(seeded):
    seeded.cli("upgrade", "head")
    result = seeded.cli("--json", "upgrade", "head")
    assert json.loads(result.stdout)["outcome"] == "up-to-date"


def test_quiet_prints_nothing_but_errors(seeded):
    result = seeded.run("-q", "upgrade", "head")
    assert result.returncode == 0
    assert result.stderr == "" and result.stdout == ""
