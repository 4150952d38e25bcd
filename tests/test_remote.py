"""The remote store on real SQLite files, over real HTTP to the S3 server `make test`
starts (scripts/s3test.sh): every snapshot leaves the machine, and the new machine
(the local store gone) lists, verifies and restores from the remote."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import HEAD, SEED_AT, ProjectDir, seed, table_contents, version_of
from s3_support import corrupt, delete_local, payload_keys

# Fails after dropping a column: the guarded run restores the snapshot.
DROPS_THEN_FAILS = """\
with op.batch_alter_table("properties") as batch_op:
    batch_op.drop_column("zoning")
op.execute("SELECT * FROM no_such_table")
"""


def test_a_snapshot_is_uploaded_payload_and_manifest(seeded, s3_remote):
    result = seeded.cli("--json", "snapshot", "create", "--label", "nightly")
    snapshot_id = json.loads(result.stdout)["id"]

    keys = s3_remote.objects()
    assert f"team/app/snapshots/{snapshot_id}/manifest.json" in keys
    assert payload_keys(s3_remote, snapshot_id)
    listed = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert [(s["id"], s["locations"]) for s in listed] == [(snapshot_id, ["local", "remote"])]


def test_destructive_run_lands_on_the_remote_and_a_failed_one_is_restored(seeded, s3_remote):
    seeded.cli("upgrade", HEAD, "--policy", "never")
    seeded.add_revision("c0ffee000001", HEAD, DROPS_THEN_FAILS, doc="drop zoning, then fail")
    before = table_contents(seeded.db)

    result = seeded.cli("--json", "upgrade", "head", expect=6)

    report = json.loads(result.stdout)["result"]
    snapshot_id = report["snapshot"]["id"]
    assert report["restored"] is True
    assert report["remote"] == {"snapshot": snapshot_id, "ok": True, "error": None,
                                "location": f"s3://{s3_remote.bucket}/team/app/snapshots/{snapshot_id}/"}
    assert table_contents(seeded.db) == before
    assert f"team/app/snapshots/{snapshot_id}/manifest.json" in s3_remote.objects()


def test_new_machine_restores_the_pre_migration_state_from_the_remote(seeded, s3_remote):
    before, revision = table_contents(seeded.db), version_of(seeded.db)
    result = seeded.cli("--json", "upgrade", "head")  # destructive revisions: a snapshot first
    snapshot_id = json.loads(result.stdout)["snapshot"]["id"]
    assert json.loads(result.stdout)["remote"]["ok"] is True
    assert table_contents(seeded.db) != before

    delete_local(seeded.store)
    listed = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert [(s["id"], s["locations"]) for s in listed if s["id"] == snapshot_id] == [(snapshot_id, ["remote"])]
    shown = json.loads(seeded.cli("--json", "snapshot", "show", snapshot_id).stdout)
    assert shown["revision"] == revision[0]

    restored = seeded.cli("restore", snapshot_id, "--yes")
    assert "is on the remote: s3://" in restored.stderr  # the safety snapshot left the machine too

    after = table_contents(seeded.db)
    for table in before:  # table by table: a difference names its table
        assert after[table] == before[table], table
    assert version_of(seeded.db) == revision
    listed = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert [s["locations"] for s in listed if s["safety"]] == [["local", "remote"]]


def test_verify_works_from_the_remote_alone(seeded, s3_remote):
    snapshot_id = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    delete_local(seeded.store)
    result = json.loads(seeded.cli("--json", "snapshot", "verify", snapshot_id).stdout)
    assert result["ok"] is True


@pytest.mark.reliability
def test_an_object_corrupted_on_the_server_is_refused_and_the_database_untouched(seeded, s3_remote):
    snapshot_id = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", "head")
    delete_local(seeded.store)
    for key in payload_keys(s3_remote, snapshot_id):
        corrupt(s3_remote, key)
    at_head = table_contents(seeded.db)

    verify = seeded.cli("snapshot", "verify", snapshot_id, expect=10)
    restore = seeded.cli("restore", snapshot_id, "--yes", expect=10)

    for result in (verify, restore):
        assert "is damaged" in result.stderr and snapshot_id in result.stderr
    assert table_contents(seeded.db) == at_head
    assert version_of(seeded.db) == [HEAD]
    assert not list((seeded.store / "snapshots").glob(".tmp-*"))  # nothing half-downloaded


def test_config_says_where_the_credentials_come_from_not_what_they_are(project, s3_remote):
    report = json.loads(project.cli("--json", "config", "--no-probe").stdout)
    assert report["settings"]["remote"]["value"] == s3_remote.url
    assert report["settings"]["remote_credentials"] == {"value": "(not shown)", "source": "env"}


@pytest.mark.reliability
def test_a_missing_bucket_is_one_clear_line(seeded, s3_remote):
    seeded.configure(remote=f"s3://no-such-bucket-{s3_remote.bucket}/x")
    result = seeded.cli("snapshot", "create", expect=13)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("safeguard: error: ") and "the bucket does not exist" in lines[-1]
    assert "verified locally" in lines[-1]


@pytest.mark.reliability
def test_remote_required_refuses_before_migrating_when_the_remote_cannot_be_written(seeded, s3_remote):
    seeded.configure(remote=f"s3://no-such-bucket-{s3_remote.bucket}/x", remote_required="true")
    before = table_contents(seeded.db)
    result = seeded.cli("upgrade", "head", expect=13)
    assert "remote_required" in result.stderr and "nothing was changed" in result.stderr
    assert table_contents(seeded.db) == before
    assert not (seeded.store / "snapshots").exists() or not list((seeded.store / "snapshots").iterdir())
    assert "nothing to recover" in seeded.cli("recover").stdout.lower() + seeded.cli("recover").stderr.lower()


@pytest.mark.parametrize("required", [True, False], ids=["required", "optional"])
def test_plan_reports_a_remote_that_cannot_be_written(seeded, s3_remote, required):
    """Issue 30 item 4: `plan` reports whether the remote the snapshot goes to can be
    written: with remote_required the run would refuse (exit 13), and so does the plan;
    without, the snapshot would stay local (a warning, exit 0)."""
    seeded.configure(remote=f"s3://no-such-bucket-{s3_remote.bucket}/x",
                     **({"remote_required": "true"} if required else {}))
    result = seeded.cli("--json", "plan", expect=13 if required else 0)
    items = {p["name"]: p for p in json.loads(result.stdout)["preconditions"]["items"]}
    assert items["remote"]["status"] == ("failed" if required else "warning")
    assert "bucket does not exist" in items["remote"]["detail"]
    assert items["store"]["status"] == "ok"


def test_prune_applies_retention_to_the_remote_too(seeded, s3_remote):
    seeded.configure(keep_last="1", keep_daily="0", keep_weekly="0", keep_monthly="0")
    ids = [json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"] for _ in range(3)]

    seeded.cli("snapshot", "prune")

    listed = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert [(s["id"], s["locations"]) for s in listed] == [(ids[-1], ["local", "remote"])]
    assert not [k for k in s3_remote.objects() if ids[0] in k or ids[1] in k]


def other_host(seeded, tmp_path) -> ProjectDir:
    """A second host: its own checkout and its own SQLite database, the same remote.
    Its file is at the same place in its checkout (poolula.db), which by default names
    the same database on every machine (a new machine restores it): a host with a
    database of its own says so with database_name."""
    other = ProjectDir(tmp_path / "other-host")
    other.root.mkdir()
    shutil.copy(seeded.ini, other.ini)
    shutil.copytree(seeded.root / "alembic", other.root / "alembic")
    other.configure(database_name="other-host")
    other.cli("upgrade", SEED_AT, "--create", "--policy", "never")
    seed(other)
    return other


def test_hosts_sharing_a_remote_keep_each_others_history(seeded, s3_remote, tmp_path):
    seeded.configure(keep_last="1", keep_daily="0", keep_weekly="0", keep_monthly="0")
    other = other_host(seeded, tmp_path)
    pre_migration = json.loads(seeded.cli("--json", "upgrade", "head").stdout)["snapshot"]["id"]
    newest_here = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    there = [json.loads(other.cli("--json", "snapshot", "create").stdout)["id"] for _ in range(2)]

    other.cli("snapshot", "prune")  # the other host prunes the shared remote

    on_remote = {s["id"] for s in json.loads(other.cli("--json", "snapshot", "list").stdout)["snapshots"]
                 if "remote" in s["locations"]}
    # Its own history is pruned to keep_last; this host's newest and pre-migration stay.
    assert on_remote == {pre_migration, newest_here, there[-1]}
    # And it never restores this host's database from them.
    refused = other.cli("restore", newest_here, "--yes", expect=10)
    assert "is of" in refused.stderr and str(seeded.db) in refused.stderr


@pytest.mark.parametrize(("keys", "says"), [
    ({"remote": "https://bucket/x"}, "remote must be s3://BUCKET/PREFIX"),
    ({"remote_required": "true"}, "remote_required is true, but no remote is set"),
    ({"remote": "s3://b/x", "remote_required": "sometimes"}, "is not true or false"),
    ({"remote": "s3://b/x", "remote_key": "k" * 40}, "remote_key is a secret"),
])
def test_bad_remote_settings_are_one_line(project, keys, says):
    project.configure(**keys)
    result = project.cli("config", "--no-probe", expect=2)
    assert result.stderr.strip().splitlines() == [f"safeguard: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert says in result.stderr


def test_the_remote_can_come_from_the_environment(project, monkeypatch):
    monkeypatch.setenv("SAFEGUARD_REMOTE", "s3://from-env/app")
    monkeypatch.setenv("SAFEGUARD_REMOTE_REQUIRED", "yes")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = json.loads(project.cli("--json", "config", "--no-probe").stdout)["settings"]
    assert settings["remote"] == {"value": "s3://from-env/app", "source": "environment SAFEGUARD_REMOTE"}
    assert settings["remote_required"]["value"] is True


def test_another_hosts_snapshot_is_restored_only_when_told_so(seeded, s3_remote, tmp_path):
    other = other_host(seeded, tmp_path)
    seeded.cli("upgrade", "head", "--policy", "never")
    wanted = table_contents(seeded.db)
    snapshot_id = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    untouched = table_contents(other.db)

    refused = other.cli("restore", snapshot_id, "--yes", expect=10)
    assert "--any-database" in refused.stderr and table_contents(other.db) == untouched

    other.cli("restore", snapshot_id, "--yes", "--any-database")
    assert table_contents(other.db) == wanted


def test_a_remote_that_cannot_even_be_set_up_is_refused_before_migrating(seeded, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    seeded.configure(remote="s3://bucket/app", remote_profile="no-such-profile")
    before = table_contents(seeded.db)
    result = seeded.cli("upgrade", "head", expect=2)
    assert result.stderr.strip().splitlines()[-1] == \
        "safeguard: error: remote_profile 'no-such-profile' is not in the AWS shared config"
    assert table_contents(seeded.db) == before
    assert "nothing to recover" in seeded.cli("recover").stderr.lower() + seeded.cli("recover").stdout.lower()


def test_two_hosts_pruning_the_remote_at_once_lose_nothing_retention_keeps(seeded, s3_remote, tmp_path):
    """Both hosts prune the shared remote at the same instant, as separate processes:
    each keeps its own newest snapshot (keep_last = 1), and both still verify from the
    remote alone."""
    import threading

    keep = dict(keep_last="1", keep_daily="0", keep_weekly="0", keep_monthly="0")
    seeded.configure(**keep)
    other = other_host(seeded, tmp_path)
    other.configure(**keep)
    for _round in range(2):
        newest = {}
        for host in (seeded, other):
            for _ in range(3):
                newest[host.root] = json.loads(host.cli("--json", "snapshot", "create").stdout)["id"]
        start: threading.Barrier = threading.Barrier(2)
        results: dict = {}

        def prune(host: ProjectDir, start: threading.Barrier, results: dict) -> None:
            start.wait()
            results[host.root] = host.run("snapshot", "prune", timeout=300)

        threads = [threading.Thread(target=prune, args=(h, start, results)) for h in (seeded, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r.returncode == 0 for r in results.values()), [r.stderr for r in results.values()]
        on_remote = {k.split("/snapshots/")[1].split("/")[0] for k in s3_remote.objects()
                     if k.endswith("/manifest.json")}
        assert set(newest.values()) <= on_remote, (newest, on_remote)
    for host in (seeded, other):
        delete_local(host.store)
        checked = json.loads(host.cli("--json", "snapshot", "verify", newest[host.root]).stdout)
        assert checked["ok"], checked


# -- one bad manifest in the shared bucket, an unreachable remote -------------------------

BAD_MANIFESTS = {
    "a file outside its directory": lambda good: {**good, "id": "20200101T000000Z-0bad00",
                                                  "files": {"../../..": good["sha256"]}},
    "not JSON": lambda good: b'{"id": "20200101T000000Z-0bad00", "cut',
    "a JSON list": lambda good: [good],
    "another snapshot's id": lambda good: good,  # the id in it is not the key's
}


@pytest.mark.reliability
@pytest.mark.parametrize("kind", list(BAD_MANIFESTS))
def test_one_bad_manifest_in_the_bucket_is_skipped_with_a_warning(seeded, s3_remote, kind):
    from s3_support import client

    seeded.configure(keep_last="1", keep_daily="0", keep_weekly="0", keep_monthly="0",
                     auto_prune="false",  # the explicit prunes below are the subject
                     **{"job.nightly": "every 1h; prune"})
    ids = [json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"] for _ in range(2)]
    good = json.loads(seeded.cli("--json", "snapshot", "show", ids[0]).stdout)
    bad = BAD_MANIFESTS[kind](good)
    key = "team/app/snapshots/20200101T000000Z-0bad00/manifest.json"
    client(s3_remote.endpoint).put_object(Bucket=s3_remote.bucket, Key=key,
                                          Body=bad if isinstance(bad, bytes) else json.dumps(bad).encode())

    listed = seeded.run("--json", "snapshot", "list")
    pruned = seeded.run("snapshot", "prune")
    scheduled = seeded.run("schedule", "--once", "--job", "nightly")

    for result in (listed, pruned, scheduled):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    for result in (pruned, scheduled):  # (--json says it in the document)
        warned = [line for line in result.stderr.splitlines() if "20200101T000000Z-0bad00" in line]
        assert len(warned) == 1 and "skipped" in warned[0], result.stderr
    assert [s["id"] for s in json.loads(listed.stdout)["snapshots"]] == ids
    assert json.loads(listed.stdout)["warnings"] and "0bad00" in json.loads(listed.stdout)["warnings"][0]
    # Retention ran over the rest; the bad manifest is left where it is, for a person.
    assert ids[0] not in " ".join(s3_remote.objects())
    assert key in s3_remote.objects()


@pytest.mark.reliability
def test_an_unreachable_remote_lists_the_local_snapshots_with_a_warning(seeded, s3_remote):
    from s3_support import free_port

    ids = [json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"] for _ in range(2)]
    seeded.configure(remote_endpoint=f"http://127.0.0.1:{free_port()}")

    listed = seeded.run("--json", "snapshot", "list")
    text = seeded.run("snapshot", "list")

    assert listed.returncode == 0 and text.returncode == 0, listed.stderr + text.stderr
    document = json.loads(listed.stdout)
    assert [(s["id"], s["locations"]) for s in document["snapshots"]] == [(i, ["local"]) for i in ids]
    assert len(document["warnings"]) == 1 and "cannot be reached" in document["warnings"][0]
    assert "local store only" in document["warnings"][0]
    assert all(i in text.stdout for i in ids)
    (warning,) = [line for line in text.stderr.splitlines() if line.strip()]
    assert warning.startswith("WARNING: ") and "cannot be reached" in warning
    # Where the remote must be read to decide, it still fails in one line.
    assert seeded.run("snapshot", "prune").returncode == 13


@pytest.mark.reliability
def test_the_remote_key_is_a_secret_wherever_it_is_set(project, monkeypatch, tmp_path):
    project.configure(remote="s3://bucket/app", remote_endpoint="http://127.0.0.1:1",
                      remote_region="us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Too short to be a secret: one line that says so, never the key.
    monkeypatch.setenv("SAFEGUARD_REMOTE_KEY", "hunter2-hunter2")
    short = project.cli("snapshot", "list", expect=2)
    assert "fewer than 32" in short.stderr and "hunter2" not in short.stderr
    monkeypatch.delenv("SAFEGUARD_REMOTE_KEY")
    # In a file others can read: refused, as ssh refuses such a private key.
    key_file = tmp_path / "remote.key"
    key_file.write_text("k" * 40 + "\n")
    key_file.chmod(0o644)
    project.configure(remote_key_file=str(key_file))
    shared = project.cli("snapshot", "list", expect=2)
    assert "chmod 600" in shared.stderr and "k" * 40 not in shared.stderr
    key_file.chmod(0o600)
    settings = json.loads(project.cli("--json", "config", "--no-probe").stdout)["settings"]
    assert settings["remote_key_file"]["value"] == str(key_file)
    # From the environment: config says where it came from, never what it is.
    monkeypatch.setenv("SAFEGUARD_REMOTE_KEY", "s" * 40)
    settings = json.loads(project.cli("--json", "config", "--no-probe").stdout)["settings"]
    assert settings["remote_key"] == {"value": "(not shown)",
                                      "source": "environment SAFEGUARD_REMOTE_KEY"}
    assert "s" * 40 not in project.cli("-v", "config", "--no-probe").stdout
