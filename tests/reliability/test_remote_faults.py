"""The remote store's faults, against a private S3 server process (moto) that each test
starts, kills and restarts: a server that dies mid-upload or mid-download, a process
killed between the payload and the manifest, refused credentials, an endpoint nobody
answers. The database is always what it must be, and each failure is one clear line.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest
from conftest import HEAD, SEED_AT, table_contents, version_of
from s3_support import (
    ACCESS_KEY,
    SECRET_KEY,
    MotoServer,
    S3Remote,
    credentials_env,
    delete_local,
    free_port,
    payload_keys,
)

from .ledger import Tally
from .processes import Run, resume, start, wait_stopped

pytestmark = pytest.mark.reliability


@pytest.fixture
def server():
    found = MotoServer().start()
    yield found
    found.kill()


@pytest.fixture
def remote(server, seeded, monkeypatch) -> S3Remote:
    for key, value in credentials_env().items():
        monkeypatch.setenv(key, value)
    found = S3Remote(server.endpoint, f"sg-fault-{secrets.token_hex(4)}").create_bucket()
    seeded.configure(**found.keys)
    return found


def kill_server_at(point: str, server: MotoServer, project, *args: str) -> tuple[Run, int]:
    """Run the CLI until it reaches ``point``, kill the S3 server there, let the run go
    on; the run and its exit code."""
    run = start(project, *args, env={"SAFEGUARD_PAUSE": point})
    try:
        wait_stopped(run)
        server.kill()
        resume(run)
        return run, run.wait()
    finally:
        run.reap()


def test_the_server_killed_mid_upload_leaves_the_run_protected_locally(seeded, server, remote, ledger):
    before = table_contents(seeded.db)
    run, code = kill_server_at("remote:payload-uploaded", server, seeded, "--json", "upgrade", "head")
    report = json.loads(run.stdout())
    ledger(Tally(tests=1, faults=1, data_lost=int(version_of(seeded.db) != [HEAD])))

    assert code == 0, run.stderr()
    assert report["outcome"] == "migrated" and version_of(seeded.db) == [HEAD]
    assert report["remote"]["ok"] is False and "cannot be reached" in report["remote"]["error"]
    assert report["warnings"] and "kept in the local store only" in report["warnings"][0]
    snapshot_id = report["snapshot"]["id"]
    # The snapshot that protects the run is whole in the local store, and restorable.
    seeded.cli("restore", snapshot_id, "--yes")
    assert table_contents(seeded.db) == before


def test_a_process_killed_between_payload_and_manifest_leaves_no_snapshot_on_the_remote(
        seeded, remote, ledger):
    run = start(seeded, "--json", "snapshot", "create", env={"SAFEGUARD_FAULT": "remote:payload-uploaded"})
    try:
        code = run.wait()
    finally:
        run.reap()
    ledger(Tally(tests=1, faults=1))
    assert code == -9
    listed = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    assert len(listed) == 1 and listed[0]["locations"] == ["local"]
    snapshot_id = listed[0]["id"]
    assert payload_keys(remote, snapshot_id)  # the payload got there; without a manifest it is not a snapshot
    delete_local(seeded.store)
    assert json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"] == []
    result = seeded.cli("restore", snapshot_id, "--yes", expect=3)
    assert "no snapshot" in result.stderr


def test_the_server_killed_mid_download_leaves_the_database_untouched(seeded, server, remote, ledger):
    snapshot_id = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", "head")
    delete_local(seeded.store)
    at_head = table_contents(seeded.db)

    run, code = kill_server_at("remote:downloading", server, seeded, "restore", snapshot_id, "--yes")
    lines = [line for line in run.stderr().splitlines() if line.strip()]
    untouched = table_contents(seeded.db) == at_head and version_of(seeded.db) == [HEAD]
    ledger(Tally(tests=1, faults=1, refused=1, data_lost=int(not untouched)))

    assert code == 13, run.stderr()
    assert len(lines) == 1 and lines[0].startswith("safeguard: error: ") \
        and "cannot be reached" in lines[0], lines
    assert untouched
    assert not list((seeded.store / "snapshots").glob(".tmp-*"))
    assert seeded.cli("recover").exit_code == 0


def test_refused_credentials_are_one_clear_line_without_the_secret(seeded, ledger):
    # A server that checks signatures: it knows no access key, so every request is refused.
    guarded = MotoServer(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}).start()
    try:
        seeded.configure(remote="s3://any-bucket/x", remote_endpoint=guarded.endpoint,
                         remote_region="us-east-1")
        result = seeded.run("snapshot", "create", env=credentials_env())
    finally:
        guarded.kill()
    ledger(Tally(tests=1, faults=1, bad_inputs=1))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 13, result.stderr
    # The snapshot's own line, then the one error line.
    assert lines[-1].startswith("safeguard: error: ") and len(lines) == 2, lines
    # The code is the service's: InvalidAccessKeyId, or a bare 403 when the refused
    # request was one whose answer has no body (which request fails first varies).
    assert re.search(r"refused the credentials \((InvalidAccessKeyId|403)\)", lines[-1]), lines
    assert SECRET_KEY not in result.stderr + result.stdout
    assert ACCESS_KEY not in result.stderr + result.stdout


def test_no_credentials_and_no_endpoint_are_one_clear_line_each(seeded, ledger):
    bare = {k: v for k, v in credentials_env().items() if not k.startswith("AWS_ACCESS")
            and not k.startswith("AWS_SECRET")}
    seeded.configure(remote="s3://any-bucket/x", remote_endpoint=f"http://127.0.0.1:{free_port()}",
                     remote_region="us-east-1")
    nobody = seeded.run("snapshot", "create", env=credentials_env())
    seeded.configure(remote_endpoint=MotoServer().endpoint)
    nothing = seeded.run("snapshot", "create", env=bare)
    ledger(Tally(tests=1, faults=2, bad_inputs=2))
    for result, says in ((nobody, "cannot be reached"), (nothing, "no AWS credentials found")):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 13 and lines[-1].startswith("safeguard: error: "), result.stderr
        assert len(lines) == 2 and says in lines[-1], result.stderr


def test_a_scheduled_run_whose_upload_fails_fails_and_the_next_run_retries_it(seeded, server, remote, ledger):
    server.kill()  # the remote is down for the first run
    first = seeded.cli("--json", "schedule", "--once", "--every", "1h", expect=13)
    stranded = json.loads(first.stdout)
    down = json.loads(seeded.cli("--json", "schedule", "--status").stdout)["remote"]

    revived = MotoServer(port=server.port).start()  # the same address, an empty server
    try:
        S3Remote(revived.endpoint, remote.bucket).create_bucket()
        seeded.cli("--json", "schedule", "--once", "--every", "1h")
        up = json.loads(seeded.cli("--json", "schedule", "--status").stdout)["remote"]
        on_remote = [s for s in json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
                     if "remote" in s["locations"]]
    finally:
        revived.kill()
    ledger(Tally(tests=1, faults=1))

    assert "cannot be reached" in json.dumps(stranded)
    assert down["last_success"] is None and down["last_failure"] is not None
    assert up["last_success"] is not None and up["url"] == remote.url
    # The first run's snapshot was retried by the second run: both are on the remote.
    assert len(on_remote) == 2


def test_a_safety_snapshot_finished_by_recover_is_uploaded(seeded, remote, ledger):
    """A restore killed after its swap leaves its safety snapshot (the replaced file,
    moved into the store) for `recover` to finish: that snapshot leaves the machine
    too, as every other does."""
    snapshot_id = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", "head")
    killed = seeded.run("restore", snapshot_id, "--yes", env={"SAFEGUARD_FAULT": "sqlite:restore:swapped"})
    recovered = seeded.run("recover")
    (safety,) = [s for s in json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
                 if s["safety"]]
    ledger(Tally(tests=1, faults=1, restores=1, recoveries=1,
                 data_lost=int(version_of(seeded.db) != [SEED_AT])))

    assert killed.returncode == -9, killed.stderr
    assert recovered.returncode == 0, recovered.stderr
    assert safety["locations"] == ["local", "remote"], safety
    assert f"team/app/snapshots/{safety['id']}/manifest.json" in remote.objects()
    assert f"Snapshot {safety['id']} is on the remote: s3://" in recovered.stderr
