"""The snapshot store: manual restore, verification, retention, compression, safety."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from conftest import CHAIN, HEAD, REPO, SEED_AT, ProjectDir, table_contents, version_of

from safeguard.retention import RetentionPolicy, decide
from safeguard.store import Snapshot


def _create(project, *args):
    return json.loads(project.cli("--json", "snapshot", "create", *args).stdout)


def _payload(project, snap):
    directory = project.store / "snapshots" / snap["id"]
    (payload,) = [p for p in directory.iterdir() if p.name != "manifest.json"]
    return payload


def _flip_a_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_restore_to_an_older_snapshot_after_two_more_migrations(seeded):
    seeded.cli("upgrade", CHAIN[5])
    before = table_contents(seeded.db)
    snap = _create(seeded, "--label", "before-index")
    seeded.cli("upgrade", CHAIN[7])  # two more migrations, one of them a backfill
    assert table_contents(seeded.db) != before

    outcome = json.loads(seeded.cli("--json", "restore", snap["id"], "--yes").stdout)

    assert table_contents(seeded.db) == before
    assert version_of(seeded.db) == [CHAIN[5]]
    assert seeded.cli("current").stdout.strip() == CHAIN[5]
    assert outcome["health"]["ok"] is True
    # The state it replaced is kept in a safety snapshot.
    safety = json.loads(seeded.cli("--json", "snapshot", "show", outcome["safety_snapshot"]).stdout)
    assert safety["revision"] == CHAIN[7]


def test_a_snapshot_with_one_flipped_byte_is_refused(seeded):
    snap = _create(seeded)
    seeded.cli("upgrade", "head")
    _flip_a_byte(_payload(seeded, snap))
    database_bytes = seeded.db.read_bytes()
    listed = seeded.cli("--json", "snapshot", "list").stdout

    verify = seeded.cli("snapshot", "verify", snap["id"], expect=10)
    restore = seeded.cli("restore", snap["id"], "--yes", expect=10)

    assert "damaged" in verify.stderr and "damaged" in restore.stderr
    assert seeded.db.read_bytes() == database_bytes
    assert seeded.cli("--json", "snapshot", "list").stdout == listed  # not even a safety snapshot


def test_verify_restores_into_a_scratch_database(seeded):
    snap = _create(seeded)
    result = json.loads(seeded.cli("--json", "snapshot", "verify", snap["id"]).stdout)
    assert result == {"snapshot": snap["id"], "ok": True, "problems": []}
    # A manifest that lies about row counts is caught by the test restore, not the hash.
    manifest_path = seeded.store / "snapshots" / snap["id"] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["row_counts"]["properties"] += 1
    manifest_path.write_text(json.dumps(manifest))
    failed = seeded.cli("snapshot", "verify", snap["id"], expect=10)
    assert "properties" in failed.stderr
    assert not [p for p in (seeded.store / "snapshots").iterdir() if p.name.startswith(".tmp-")]


def test_compressed_snapshots_round_trip_and_are_verified(seeded):
    seeded.configure(compression="zstd", compression_level="5")
    before = table_contents(seeded.db)
    snap = _create(seeded)
    assert snap["compression"] == "zstd" and _payload(seeded, snap).name.endswith(".zst")
    assert snap["size"] < seeded.db.stat().st_size
    seeded.cli("snapshot", "verify", snap["id"])
    seeded.cli("upgrade", "head")
    seeded.cli("restore", snap["id"], "--yes")
    assert table_contents(seeded.db) == before

    _flip_a_byte(_payload(seeded, snap))
    seeded.cli("snapshot", "verify", snap["id"], expect=10)


def test_restore_refuses_another_databases_snapshot(seeded, tmp_path):
    snap = _create(seeded)
    other = tmp_path / "other.db"
    other.write_bytes(seeded.db.read_bytes())
    result = seeded.cli("--url", f"sqlite:///{other}", "restore", snap["id"], "--yes", expect=10)
    assert f"is of {seeded.db.resolve()}" in result.stderr
    assert other.read_bytes() == seeded.db.read_bytes()


def test_a_checkout_moved_to_another_path_restores_its_own_snapshots(seeded, tmp_path):
    """What names a database on every machine is its place in the project (poolula.db),
    not the absolute path: a checkout at another path is the same database."""
    rows = table_contents(seeded.db)
    snap = _create(seeded)
    assert snap["database_name"] == "poolula.db" and snap["database"] == str(seeded.db.resolve())
    moved = ProjectDir(tmp_path / "elsewhere" / "checkout")
    shutil.copytree(seeded.root, moved.root)
    moved.cli("upgrade", "head")

    moved.cli("restore", snap["id"], "--yes")

    assert table_contents(moved.db) == rows and version_of(moved.db) == [SEED_AT]


def test_restore_needs_confirmation_and_dry_run_changes_nothing(seeded):
    snap = _create(seeded)
    seeded.cli("upgrade", "head")
    database_bytes = seeded.db.read_bytes()
    refused = seeded.cli("restore", snap["id"], expect=2)
    assert "--yes" in refused.stderr
    dry = seeded.cli("restore", snap["id"], "--dry-run")
    # SQLite keeps the file it replaces (no copy): the dry run says so.
    assert "Would restore" in dry.stderr
    assert "keep the database it replaces as the safety snapshot" in dry.stderr
    assert seeded.db.read_bytes() == database_bytes


def test_restoring_a_revision_the_scripts_no_longer_know_warns(seeded):
    seeded.add_revision("d1e2f3a4b5c6", SEED_AT, "pass", doc="a revision later deleted")
    seeded.cli("upgrade", "d1e2f3a4b5c6")
    snap = _create(seeded)
    (seeded.versions / "d1e2f3a4b5c6_test.py").unlink()
    result = seeded.cli("restore", snap["id"], "--yes")
    assert "WARNING" in result.stderr and "d1e2f3a4b5c6" in result.stderr
    assert version_of(seeded.db) == ["d1e2f3a4b5c6"]


@pytest.mark.parametrize("broken", [
    pytest.param("def upgrade(:\n", id="syntax error"),
    pytest.param("import no_such_module_anywhere\n", id="unknown import"),
])
def test_a_restore_works_while_a_revision_file_cannot_be_imported(seeded, broken):
    """A restore is what people need when the scripts are broken: it reads no revision
    file to put the database back, and says what it could not check."""
    wanted = table_contents(seeded.db)
    snap = _create(seeded)
    seeded.cli("upgrade", "head")
    (seeded.versions / "ffffffffffff_broken.py").write_text(broken)

    dry = seeded.run("restore", snap["id"], "--dry-run")
    done = seeded.run("restore", snap["id"], "--yes")
    latest = seeded.run("restore", "latest", "--yes")

    for result in (dry, done, latest):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        warning = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
        assert len(warning) == 1 and "ffffffffffff_broken.py" in warning[0], result.stderr
    assert table_contents(seeded.db) == wanted
    assert version_of(seeded.db) == [SEED_AT]


@pytest.mark.parametrize("bad_id", ["../../etc", "20261125T201500Z-3f9a1c/../x", "x" * 40, ""])
def test_snapshot_ids_cannot_name_a_path_outside_the_store(seeded, bad_id):
    result = seeded.cli("snapshot", "show", bad_id, expect=2)
    assert "invalid snapshot id" in result.stderr


def test_store_files_are_private(seeded):
    snap = _create(seeded)
    directory = seeded.store / "snapshots" / snap["id"]
    for path in (seeded.store, seeded.store / "snapshots", directory):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (directory / "manifest.json", _payload(seeded, snap), seeded.store / "journal.jsonl"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_prune_keeps_pinned_and_the_snapshot_before_the_last_migration(seeded):
    seeded.configure(keep_last="1", keep_daily="0", keep_weekly="0", keep_monthly="0",
                     auto_prune="false")
    pinned = _create(seeded, "--pin", "--label", "golden")
    seeded.cli("upgrade", "head")  # takes the snapshot before the migration
    migration_snapshot = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"][-1]
    plain = [_create(seeded)["id"] for _ in range(3)]

    dry = json.loads(seeded.cli("--json", "snapshot", "prune", "--dry-run").stdout)
    assert {d["id"] for d in dry["decisions"] if not d["keep"]} == set(plain[:2])
    assert len(json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]) == 5

    seeded.cli("snapshot", "prune")
    left = {s["id"] for s in json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]}
    assert left == {pinned["id"], migration_snapshot["id"], plain[2]}


def _snapshot_at(when: datetime, **extra) -> Snapshot:
    return Snapshot(id=f"{when:%Y%m%dT%H%M%SZ}-000000", created_at=when.isoformat(), reason="test",
                    engine="sqlite", database="/db", revisions=(HEAD,), size=1, sha256="0" * 64,
                    files={}, row_counts={}, **extra)


def test_grandfather_father_son_over_a_year_of_daily_snapshots():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    daily = [_snapshot_at(now - timedelta(days=d, hours=9)) for d in range(365)]
    policy = RetentionPolicy(keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=12)

    decisions = decide(daily, now, policy)
    kept = {d.snapshot.created.date() for d in decisions if d.keep}

    # the last 7 days (which covers keep_last=3)
    assert {(now - timedelta(days=d, hours=9)).date() for d in range(7)} <= kept
    # the newest snapshot of each of the last 4 ISO weeks: today, then the Sundays that
    # end the three weeks before (the 22nd is also one of the last 7 days)
    sundays = [datetime(2026, 11, 22).date() - timedelta(weeks=w) for w in range(3)]
    assert set(sundays) <= kept
    # the newest snapshot of each of the last 12 months: month ends, and today's month
    month_ends = {datetime(2026, m, 1).date() - timedelta(days=1) for m in range(1, 12)}
    assert month_ends <= kept
    assert len(kept) == 7 + 2 + 11  # 7 days, 2 more weeks, 11 more months
    assert all(not d.keep for d in decisions if d.snapshot.created.date() not in kept)
    # The decision never depends on the clock: the same input gives the same answer.
    assert decide(daily, now, policy) == decisions


def test_max_age_prunes_old_snapshots_but_never_pinned_or_protected_ones():
    now = datetime(2026, 11, 25, tzinfo=timezone.utc)
    old, old_pinned, old_protected = (
        _snapshot_at(now - timedelta(days=100)),
        _snapshot_at(now - timedelta(days=101), pinned=True),
        _snapshot_at(now - timedelta(days=102)),
    )
    policy = RetentionPolicy(keep_last=10, keep_daily=0, keep_weekly=0, keep_monthly=0, max_age_days=30)
    decisions = {d.snapshot.id: d for d in decide([old, old_pinned, old_protected], now, policy,
                                                  protected={old_protected.id})}
    assert not decisions[old.id].keep and "older than 30 days" in decisions[old.id].reasons
    assert decisions[old_pinned.id].keep and decisions[old_protected.id].keep


def test_snapshots_dated_in_the_future_or_unauthenticated_never_drive_retention():
    """Twelve snapshots dated years ahead (planted, or a host's clock wrong) and twelve
    unauthenticated ones would fill keep_last and prune every real one: they count
    toward no rule and are not deleted; a few minutes ahead is a clock's skew, and counts."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    real = [_snapshot_at(now - timedelta(days=d)) for d in range(3)]
    skewed = _snapshot_at(now + timedelta(minutes=2))
    future = [_snapshot_at(datetime(2099, 1, 1, d, tzinfo=timezone.utc)) for d in range(12)]
    planted = [_snapshot_at(now - timedelta(hours=h), unauthenticated=True) for h in range(1, 13)]
    policy = RetentionPolicy(keep_last=4, keep_daily=0, keep_weekly=0, keep_monthly=0, max_age_days=7)

    decisions = {d.snapshot.id: d for d in decide([*real, skewed, *future, *planted], now, policy)}

    assert all(decisions[s.id].keep and decisions[s.id].reasons == ("last",) for s in [*real, skewed])
    assert all(decisions[s.id].keep and "in the future" in decisions[s.id].reasons[0] for s in future)
    assert all(decisions[s.id].keep and "not authenticated" in decisions[s.id].reasons[0] for s in planted)


def test_backup_script_is_a_thin_shim(seeded):
    def backup(*args):
        return subprocess.run([sys.executable, str(REPO / "scripts" / "backup.py"),
                               "-c", str(seeded.ini), *args],
                              cwd=seeded.root, capture_output=True, text=True,
                              env={**os.environ, "DATABASE_URL": seeded.url})

    before = table_contents(seeded.db)
    assert backup().returncode == 0
    listed = backup("--list")
    assert listed.returncode == 0 and "backup.py" in listed.stdout
    seeded.cli("upgrade", "head")
    assert backup("--restore", "latest").returncode == 0
    assert table_contents(seeded.db) == before
    assert backup("--clean").returncode == 0
