"""The retention policy applied after every operation that adds a snapshot (issue 30,
item 6): in the field every SQLite run kept a full copy, and a 34 MB database had
195 MB of store after two upgrade/downgrade cycles and a restore, because keep_last was
applied only by `snapshot prune` and scheduled jobs."""

from __future__ import annotations

import json

from conftest import HEAD, SEED_AT, table_contents, version_of

from safeguard.journal import Journal

NO_RULES = {"keep_last": "0", "keep_daily": "0", "keep_weekly": "0", "keep_monthly": "0"}


def store_snapshots(project) -> list[dict]:
    """The manifests in the local store, oldest first."""
    return sorted((json.loads(p.read_text()) for p in project.store.glob("snapshots/*/manifest.json")),
                  key=lambda m: (m["created_at"], m["id"]))


def store_bytes(project) -> int:
    return sum(p.stat().st_size for p in (project.store / "snapshots").rglob("*") if p.is_file())


def test_twenty_guarded_runs_and_five_restores_leave_the_store_within_its_retention_policy(seeded):
    for _ in range(10):
        seeded.cli("upgrade", "head")
        seeded.cli("downgrade", SEED_AT)
    assert version_of(seeded.db) == [SEED_AT]
    for _ in range(5):
        restored = json.loads(seeded.cli("--json", "restore", "latest", "--yes").stdout)
        assert restored["snapshot"]["revisions"] == [HEAD]

    kept = store_snapshots(seeded)
    print(f"\n20 guarded runs and 5 restores: {len(kept)} snapshots, {store_bytes(seeded):,} bytes "
          f"in the store (database {seeded.db.stat().st_size:,} bytes; policy keep_last 10, "
          "daily 7, weekly 4, monthly 12)")
    # The default policy keeps the newest 10; everything made today is in one day, week
    # and month, whose newest is among them. What the journal still needs is newest too.
    assert len(kept) == 10
    decisions = json.loads(seeded.cli("--json", "snapshot", "prune", "--dry-run").stdout)["decisions"]
    assert all(d["keep"] for d in decisions), [d for d in decisions if not d["keep"]]
    # Nothing the runs needed went: the last restore's safety snapshot, the last
    # migration's snapshot; and the database is where the last restore left it.
    last = [op for op in Journal(seeded.store).operations() if op.kind == "restore"][-1]
    assert last.end["safety_snapshot"] in {s["id"] for s in kept}
    assert version_of(seeded.db) == [HEAD]
    at_head = table_contents(seeded.db)
    seeded.cli("restore", last.end["safety_snapshot"], "--yes")  # what the last one replaced
    assert table_contents(seeded.db) == at_head and version_of(seeded.db) == [HEAD]


def test_the_snapshot_an_operation_just_took_is_never_pruned_by_it(seeded):
    seeded.configure(**NO_RULES)
    first = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    second = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    # No rule keeps anything: the first went when the second was taken, the second stays.
    assert [s["id"] for s in store_snapshots(seeded)] == [second]
    prunes = [op for op in Journal(seeded.store).operations() if op.kind == "prune"]
    assert [op.begun["snapshots"] for op in prunes] == [[first]]
    assert prunes[0].end["outcome"] == "pruned"


def test_auto_prune_false_leaves_retention_to_snapshot_prune(seeded):
    seeded.configure(auto_prune="false", keep_last="2", keep_daily="0", keep_weekly="0",
                     keep_monthly="0")
    ids = [json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"] for _ in range(4)]
    assert [s["id"] for s in store_snapshots(seeded)] == ids
    seeded.cli("snapshot", "prune")
    assert [s["id"] for s in store_snapshots(seeded)] == ids[-2:]
