"""What someone who can write the bucket can make safeguard do, and what they cannot.

The remote store's manifests are signed with a key the user holds as a secret
(SAFEGUARD_REMOTE_KEY or remote_key_file), never stored in the bucket. Here the attacker
writes the bucket through the S3 API, as a leaked bucket credential allows: they replace
a snapshot's payload and rewrite its manifest's digests to match, plant a snapshot dated
2099, plant twelve; a host with a skewed clock (and the key) does the last two without
malice. Each time the database keeps its rows, `latest` names the real newest snapshot,
and `prune` deletes no real snapshot, locally or on the remote.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import HEAD, SEED_AT, table_contents, version_of
from s3_support import REMOTE_KEY as KEY
from s3_support import client, delete_local

from safeguard import digest
from safeguard.signature import ManifestKey

from .ledger import Tally
from .states import error_line

pytestmark = pytest.mark.reliability



@pytest.fixture
def keyed(seeded, s3_remote):
    """The project with its remote, the remote key in the environment (s3_remote)."""
    return seeded


def manifest_of(remote, snapshot_id: str) -> dict:
    body = client(remote.endpoint).get_object(
        Bucket=remote.bucket, Key=f"{remote.prefix}/snapshots/{snapshot_id}/manifest.json")["Body"]
    return json.loads(body.read())


def put(remote, key: str, body: bytes) -> None:
    client(remote.endpoint).put_object(Bucket=remote.bucket, Key=f"{remote.prefix}/{key}", Body=body)


def attackers_database(project, tmp_path: Path) -> Path:
    """The seeded database with 200 rows set to the attacker's values."""
    forged = tmp_path / "forged.sqlite"
    forged.write_bytes(project.db.read_bytes())
    with sqlite3.connect(forged) as conn:
        conn.execute("UPDATE transactions SET description = 'attacker', amount = 999999 "
                     "WHERE rowid IN (SELECT rowid FROM transactions LIMIT 200)")
        assert conn.execute("SELECT count(*) FROM transactions WHERE description = 'attacker'"
                            ).fetchone()[0] == 200
    conn.close()
    return forged


def plant(remote, like: str, new_id: str, *, created_at: str, signed_with: str | None = None) -> None:
    """A snapshot under ``new_id``: a real one's payload and manifest, re-dated (and,
    for a host with the key, signed as that host would)."""
    manifest = {k: v for k, v in manifest_of(remote, like).items() if k != "signature"}
    manifest.update(id=new_id, created_at=created_at)
    if signed_with is not None:
        manifest["signature"] = ManifestKey.parse(signed_with).sign(manifest)
    s3 = client(remote.endpoint)
    for name in manifest["files"]:
        s3.copy_object(Bucket=remote.bucket, Key=f"{remote.prefix}/snapshots/{new_id}/{name}",
                       CopySource={"Bucket": remote.bucket,
                                   "Key": f"{remote.prefix}/snapshots/{like}/{name}"})
    put(remote, f"snapshots/{new_id}/manifest.json", json.dumps(manifest).encode())


def future_id(offset: int) -> tuple[str, str]:
    when = datetime(2099, 1, 1, tzinfo=timezone.utc) + timedelta(days=offset)
    return f"{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}", when.isoformat()


def snapshot_ids(project) -> list[str]:
    return [s["id"] for s in json.loads(project.cli("--json", "snapshot", "list").stdout)["snapshots"]]


@pytest.mark.parametrize("key", ["configured", "none"])
def test_a_replaced_payload_with_rewritten_digests_is_not_restored(keyed, s3_remote, key, tmp_path,
                                                                   monkeypatch, ledger):
    snapshot_id = json.loads(keyed.cli("--json", "snapshot", "create").stdout)["id"]
    keyed.cli("upgrade", "head")
    at_head = table_contents(keyed.db)
    # The attacker swaps the payload and makes the manifest agree with it.
    forged = attackers_database(keyed, tmp_path)
    manifest = manifest_of(s3_remote, snapshot_id)
    (name,) = manifest["files"]
    put(s3_remote, f"snapshots/{snapshot_id}/{name}", forged.read_bytes())
    manifest["files"] = {name: digest.of_file(forged)}
    manifest["sha256"] = manifest["files"][name]
    manifest["size"] = forged.stat().st_size
    put(s3_remote, f"snapshots/{snapshot_id}/manifest.json", json.dumps(manifest).encode())
    delete_local(keyed.store)
    if key == "none":
        monkeypatch.delenv("SAFEGUARD_REMOTE_KEY")

    restored = keyed.run("restore", snapshot_id, "--yes")
    verified = keyed.run("snapshot", "verify", snapshot_id)
    kept = table_contents(keyed.db)
    ledger(Tally(tests=1, faults=1, bad_inputs=2, refused=2, data_lost=int(kept != at_head)),
           fault="forged remote")

    for result in (restored, verified):
        line = error_line(result.stderr)
        assert result.returncode == 10 and "not authenticated" in line, result.stderr
        assert "--allow-unauthenticated" in line
        assert ("does not match" if key == "configured" else "no remote key") in line, line
    assert kept == at_head and version_of(keyed.db) == [HEAD]
    assert not list((keyed.store / "snapshots").glob("*/manifest.json"))  # nothing taken in


def test_a_forged_snapshot_dated_2099_never_becomes_latest(keyed, s3_remote, ledger):
    wanted = table_contents(keyed.db)
    keyed.cli("snapshot", "create")
    keyed.cli("upgrade", "head")  # (its snapshot of the state before is the newest real one)
    real = json.loads(keyed.cli("--json", "snapshot", "show", "latest").stdout)["id"]
    forged, when = future_id(0)
    plant(s3_remote, real, forged, created_at=when)  # unsigned: anyone could
    skewed, when = future_id(1)
    plant(s3_remote, real, skewed, created_at=when, signed_with=KEY)  # a host's clock 73 years fast
    delete_local(keyed.store)

    shown = json.loads(keyed.cli("--json", "snapshot", "show", "latest").stdout)
    restored = json.loads(keyed.cli("--json", "restore", "latest", "--yes").stdout)
    ledger(Tally(tests=1, faults=2, restores=1, data_lost=int(table_contents(keyed.db) != wanted)),
           fault="forged remote")

    assert shown["id"] == real and restored["snapshot"]["id"] == real
    assert table_contents(keyed.db) == wanted and version_of(keyed.db) == [SEED_AT]
    listed = {s["id"]: s for s in json.loads(keyed.cli("--json", "snapshot", "list").stdout)["snapshots"]}
    assert listed[forged]["unauthenticated"] is True and listed[skewed]["unauthenticated"] is False
    text = keyed.cli("snapshot", "list").stdout
    assert "not authenticated" in next(line for line in text.splitlines() if forged in line)
    assert "in the future" in next(line for line in text.splitlines() if skewed in line)


@pytest.mark.parametrize("who", ["attacker", "skewed clock"])
def test_twelve_future_dated_snapshots_make_prune_delete_no_real_one(keyed, s3_remote, who, ledger):
    keyed.configure(keep_last="3", keep_daily="0", keep_weekly="0", keep_monthly="0")
    real = [json.loads(keyed.cli("--json", "snapshot", "create").stdout)["id"] for _ in range(3)]
    planted = []
    for offset in range(12):
        new_id, when = future_id(offset)
        plant(s3_remote, real[-1], new_id, created_at=when,
              signed_with=KEY if who == "skewed clock" else None)
        planted.append(new_id)

    pruned = keyed.run("--json", "snapshot", "prune")
    on_remote = {k.split("/snapshots/")[1].split("/")[0] for k in s3_remote.objects()
                 if k.endswith("/manifest.json")}
    local = sorted(p.name for p in (keyed.store / "snapshots").iterdir() if p.is_dir())
    lost = [i for i in real if i not in on_remote or i not in local]
    ledger(Tally(tests=1, faults=12, data_lost=int(bool(lost))), fault="forged remote")

    assert pruned.returncode == 0, pruned.stderr
    assert lost == [], f"real snapshots pruned: {lost}"
    decisions = {d["id"]: d for d in json.loads(pruned.stdout)["decisions"]}
    assert all(decisions[i]["keep"] for i in planted)  # left alone: not counted, not deleted
    assert all(not set(decisions[i]["reasons"]) & {"last", "daily", "weekly", "monthly"}
               for i in planted), decisions


def test_without_a_key_remote_snapshots_are_flagged_and_restored_only_when_told(
        seeded, s3_remote, monkeypatch, ledger):
    monkeypatch.delenv("SAFEGUARD_REMOTE_KEY")
    wanted = table_contents(seeded.db)
    snapshot_id = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", "head")
    delete_local(seeded.store)

    listed = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    refused = seeded.run("restore", "latest", "--yes")
    at_head = table_contents(seeded.db)
    seeded.cli("restore", snapshot_id, "--yes", "--allow-unauthenticated")
    ledger(Tally(tests=1, bad_inputs=1, refused=1, restores=1,
                 data_lost=int(table_contents(seeded.db) != wanted)), fault="forged remote")

    assert snapshot_id in [s["id"] for s in listed] and all(s["unauthenticated"] for s in listed)
    assert refused.returncode == 3 and "--allow-unauthenticated" in error_line(refused.stderr)
    assert at_head != wanted
    assert table_contents(seeded.db) == wanted
    # Taken in only when told: it stays marked, and 'latest' still passes over it.
    again = seeded.run("restore", "latest", "--yes")
    assert again.returncode == 3, again.stderr
