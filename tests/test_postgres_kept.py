"""PostgreSQL: a manual restore keeps the database it replaces as its safety snapshot
(issue 14, item 3): no pg_dump of the live database first, the set-aside database
renamed into a safeguard-owned name, listed, verified, restored and pruned like any
snapshot."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import HEAD
from postgres_support import auxiliary_databases, database_state

pytestmark = pytest.mark.postgres


def change_rows(pg_server, database: str) -> None:
    """The state after the snapshot: rows added, changed and deleted, a table added."""
    with pg_server.connect(database) as conn:
        conn.execute("UPDATE properties SET name = name || ' (renamed)'")
        conn.execute("DELETE FROM audit_log")
        # In a schema of its own: the drift check compares only the default schema.
        conn.execute("CREATE SCHEMA archive")
        conn.execute("CREATE TABLE archive.scratch (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO archive.scratch SELECT i, md5(i::text) FROM generate_series(1, 500) i")


def snapshots(project) -> list[dict]:
    return json.loads(project.cli("--json", "snapshot", "list").stdout)["snapshots"]


def restore(project, snapshot_id: str) -> dict:
    return json.loads(project.cli("--json", "restore", snapshot_id, "--yes").stdout)


def test_a_manual_restore_keeps_the_replaced_database_and_restore_brings_it_back(pg_at_head, pg_server):
    project, database = pg_at_head, pg_at_head.database
    taken = json.loads(project.cli("--json", "snapshot", "create").stdout)
    at_snapshot = database_state(pg_server, database)
    change_rows(pg_server, database)
    replaced = database_state(pg_server, database)

    done = restore(project, taken["id"])

    assert database_state(pg_server, database) == at_snapshot  # table by table, row by row
    safety = [s for s in snapshots(project) if s["id"] == done["safety_snapshot"]]
    assert len(safety) == 1 and safety[0]["safety"] and safety[0]["payload_kind"] == "kept database"
    kept = safety[0]["extra"]["kept_database"]
    assert auxiliary_databases(pg_server, database) == [kept]
    assert safety[0]["row_counts"]["archive.scratch"] == 500 and safety[0]["revisions"] == [HEAD]
    shown = project.cli("snapshot", "show", safety[0]["id"]).stdout
    assert f"kept database {kept}" in shown and "not a dump" in shown
    assert "[kept database]" in project.cli("snapshot", "list").stdout
    verified = json.loads(project.cli("--json", "snapshot", "verify", safety[0]["id"]).stdout)
    assert verified["ok"], verified

    back = restore(project, safety[0]["id"])

    assert database_state(pg_server, database) == replaced
    # The kept database survives its own restore; the state replaced now is kept too.
    names = auxiliary_databases(pg_server, database)
    assert kept in names and len(names) == 2
    assert back["safety_snapshot"] not in (None, safety[0]["id"])


def test_verify_refuses_a_kept_database_that_changed_or_is_gone(pg_at_head, pg_server):
    project, database = pg_at_head, pg_at_head.database
    taken = json.loads(project.cli("--json", "snapshot", "create").stdout)
    dry = project.cli("restore", taken["id"], "--dry-run")
    assert "keep the database it replaces as the safety snapshot" in dry.stderr
    safety_id = restore(project, taken["id"])["safety_snapshot"]
    kept = auxiliary_databases(pg_server, database)[0]
    with pg_server.connect() as conn:
        conn.execute(f'ALTER DATABASE "{kept}" WITH ALLOW_CONNECTIONS true')
    with pg_server.connect(kept) as conn:
        conn.execute("DELETE FROM audit_log")
    with pg_server.connect() as conn:
        conn.execute(f'ALTER DATABASE "{kept}" WITH ALLOW_CONNECTIONS false')

    changed = project.cli("--json", "snapshot", "verify", safety_id, expect=10)
    assert "audit_log" in changed.stdout + changed.stderr

    with pg_server.connect() as conn:
        conn.execute(f'DROP DATABASE "{kept}"')
    gone = project.cli("--json", "snapshot", "verify", safety_id, expect=10)
    assert "no longer exists" in gone.stdout + gone.stderr


def test_prune_drops_the_kept_database(pg_at_head, pg_server, monkeypatch):
    project, database = pg_at_head, pg_at_head.database
    taken = json.loads(project.cli("--json", "snapshot", "create").stdout)
    first = restore(project, taken["id"])["safety_snapshot"]
    second = restore(project, taken["id"])["safety_snapshot"]  # the one retention protects
    assert len(auxiliary_databases(pg_server, database)) == 2
    for key in ("KEEP_LAST", "KEEP_DAILY", "KEEP_WEEKLY", "KEEP_MONTHLY"):
        monkeypatch.setenv(f"SAFEGUARD_{key}", "0")

    project.cli("snapshot", "prune")

    left = {s["id"] for s in snapshots(project)}
    assert first not in left and second in left
    kept = [s["extra"]["kept_database"] for s in snapshots(project) if s["id"] == second]
    assert auxiliary_databases(pg_server, database) == kept


def test_a_dump_snapshot_from_before_kept_databases_still_restores(pg_at_head, pg_server):
    """A manifest written before this change has no payload_kind; it restores as ever."""
    project, database = pg_at_head, pg_at_head.database
    taken = json.loads(project.cli("--json", "snapshot", "create").stdout)
    manifest = project.store / "snapshots" / taken["id"] / "manifest.json"
    old = json.loads(manifest.read_text())
    del old["payload_kind"]
    manifest.write_text(json.dumps(old))
    at_snapshot = database_state(pg_server, database)
    change_rows(pg_server, database)

    restore(project, taken["id"])

    assert database_state(pg_server, database) == at_snapshot


@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_the_default_uncompressed_dump_round_trips_and_a_flipped_byte_is_refused(
        pg_at_head, pg_server, monkeypatch, fmt):
    """pg_compress = 0 (the default) in either format: restored row by row, and one
    byte changed anywhere in the payload is refused by verify and by restore."""
    project, database = pg_at_head, pg_at_head.database
    monkeypatch.setenv("SAFEGUARD_PG_FORMAT", fmt)
    taken = json.loads(project.cli("--json", "snapshot", "create").stdout)
    assert taken["extra"]["compress"] == 0 and taken["extra"]["format"] == fmt
    at_snapshot = database_state(pg_server, database)
    change_rows(pg_server, database)

    restore(project, taken["id"])
    assert database_state(pg_server, database) == at_snapshot

    change_rows(pg_server, database)
    changed = database_state(pg_server, database)
    directory = project.store / "snapshots" / taken["id"]
    biggest = max((directory / name for name in taken["files"]), key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0x01
    biggest.write_bytes(bytes(data))

    verified = project.cli("--json", "snapshot", "verify", taken["id"], expect=10)
    assert "damaged" in verified.stdout + verified.stderr
    refused = project.cli("--json", "restore", taken["id"], "--yes", expect=10)
    assert "damaged" in refused.stdout + refused.stderr
    assert database_state(pg_server, database) == changed


def test_kept_databases_outlive_a_lost_store_listed_and_pruned_by_their_own_marker(
        pg_at_head, pg_server, monkeypatch):
    """Issue 30 item 6: a kept database whose manifest was only in the local store was
    orphaned on the server when the store was lost: nothing listed it, nothing pruned
    it. Its own marker (the database's comment) lists it, and retention drops it."""
    project, database = pg_at_head, pg_at_head.database
    taken = json.loads(project.cli("--json", "snapshot", "create").stdout)
    first = restore(project, taken["id"])["safety_snapshot"]
    second = restore(project, taken["id"])["safety_snapshot"]
    kept = auxiliary_databases(pg_server, database)
    assert len(kept) == 2

    shutil.rmtree(project.store)  # a lost store: a new machine, a deleted directory

    listed = {s["id"]: s for s in snapshots(project)}
    assert set(listed) == {first, second}
    assert all(s["locations"] == ["server"] and s["payload_kind"] == "kept database"
               and s["safety"] for s in listed.values())
    assert "server" in project.cli("snapshot", "list").stdout
    monkeypatch.setenv("SAFEGUARD_KEEP_LAST", "1")
    for key in ("KEEP_DAILY", "KEEP_WEEKLY", "KEEP_MONTHLY"):
        monkeypatch.setenv(f"SAFEGUARD_{key}", "0")

    project.cli("snapshot", "prune")

    assert [s["id"] for s in snapshots(project)] == [second]
    assert auxiliary_databases(pg_server, database) == [listed[second]["extra"]["kept_database"]]
