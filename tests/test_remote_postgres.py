"""The remote store with the real PostgreSQL server: the pre-migration dump lands on
the remote (S3 over real HTTP), a failed migration is restored, and with the local
store gone `restore ID --yes` brings the pre-migration state back, table by table."""

from __future__ import annotations

import json
import secrets

import pytest
from conftest import HEAD
from postgres_support import database_state, version_of
from s3_support import S3Remote, delete_local

pytestmark = pytest.mark.postgres

DROPS_THEN_FAILS = """\
op.drop_column("properties", "zoning")
op.execute("SELECT * FROM no_such_table")
"""


@pytest.fixture
def pg_remote(s3_server, s3_credentials, pg_seeded) -> S3Remote:
    remote = S3Remote(s3_server, f"sg-pg-{secrets.token_hex(4)}").create_bucket()
    pg_seeded.configure(**remote.keys)
    return remote


def test_postgres_snapshots_land_on_the_remote_and_come_back_on_a_new_machine(
        pg_seeded, pg_server, pg_remote):
    before = database_state(pg_server, pg_seeded.database)
    revision = version_of(pg_server, pg_seeded.database)
    result = json.loads(pg_seeded.cli("--json", "upgrade", "head").stdout)
    snapshot_id = result["snapshot"]["id"]
    assert result["remote"]["ok"] is True
    assert f"team/app/snapshots/{snapshot_id}/manifest.json" in pg_remote.objects()

    # A failed migration on top is restored as ever; its snapshot is uploaded too.
    pg_seeded.add_revision("c0ffee000002", HEAD, DROPS_THEN_FAILS, doc="drop zoning, then fail")
    at_head = database_state(pg_server, pg_seeded.database)
    failed = json.loads(pg_seeded.cli("--json", "upgrade", "head", expect=6).stdout)["result"]
    assert failed["restored"] is True and failed["remote"]["ok"] is True
    assert database_state(pg_server, pg_seeded.database)["contents"] == at_head["contents"]

    delete_local(pg_seeded.store)
    pg_seeded.cli("restore", snapshot_id, "--yes")

    after = database_state(pg_server, pg_seeded.database)
    for table, rows in before["contents"].items():  # table by table: a difference names its table
        assert after["contents"][table] == rows, table
    assert after["contents"].keys() == before["contents"].keys()
    assert version_of(pg_server, pg_seeded.database) == revision


def test_a_kept_databases_manifest_goes_to_the_remote_like_any_other(
        pg_seeded, pg_server, pg_remote):
    """Issue 30 item 6: the safety snapshot a manual restore keeps on the server had its
    manifest in the local store only: with the store lost, nothing said what the kept
    database was. It is uploaded as every snapshot is."""
    taken = json.loads(pg_seeded.cli("--json", "snapshot", "create").stdout)["id"]
    restored = json.loads(pg_seeded.cli("--json", "restore", taken, "--yes").stdout)
    safety = restored["safety_snapshot"]
    assert f"team/app/snapshots/{safety}/manifest.json" in pg_remote.objects()

    delete_local(pg_seeded.store)
    listed = {s["id"]: s for s in json.loads(pg_seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]}
    assert listed[safety]["payload_kind"] == "kept database"
    assert listed[safety]["locations"] == ["remote", "server"]
