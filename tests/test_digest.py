"""Snapshots are proven by a BLAKE3 digest recorded with its algorithm; manifests
written with sha256 before it keep verifying and restoring, and one flipped byte is
refused either way."""

from __future__ import annotations

import hashlib
import json

import blake3
import pytest
from conftest import HEAD, table_contents, version_of


@pytest.fixture
def snapshotted(seeded):
    """The seeded example database with one snapshot; returns (project, id, payload)."""
    snapshot = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    directory = seeded.store / "snapshots" / snapshot
    return seeded, snapshot, directory


def _payload(directory):
    manifest = json.loads((directory / "manifest.json").read_text())
    (name,) = manifest["files"]
    return manifest, directory / name


def test_a_new_manifest_records_a_blake3_digest_of_the_payload(snapshotted):
    _, _, directory = snapshotted
    manifest, payload = _payload(directory)
    expected = "blake3:" + blake3.blake3(payload.read_bytes()).hexdigest()
    assert manifest["files"][payload.name] == expected == manifest["sha256"]


def test_an_old_sha256_manifest_still_verifies_and_restores(snapshotted):
    project, snapshot, directory = snapshotted
    manifest, payload = _payload(directory)
    old = hashlib.sha256(payload.read_bytes()).hexdigest()
    manifest["files"][payload.name] = manifest["sha256"] = old  # as written before BLAKE3
    (directory / "manifest.json").write_text(json.dumps(manifest))
    expected = table_contents(project.db)
    project.cli("snapshot", "verify", snapshot)
    project.cli("upgrade", "head")
    project.cli("restore", snapshot, "--yes")
    assert table_contents(project.db) == expected and version_of(project.db) != [HEAD]


@pytest.mark.parametrize("sha256_manifest", [False, True], ids=["blake3", "sha256"])
def test_one_flipped_byte_is_refused_by_verify_and_restore(snapshotted, sha256_manifest):
    project, snapshot, directory = snapshotted
    manifest, payload = _payload(directory)
    if sha256_manifest:
        manifest["files"][payload.name] = manifest["sha256"] = hashlib.sha256(payload.read_bytes()).hexdigest()
        (directory / "manifest.json").write_text(json.dumps(manifest))
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01
    payload.write_bytes(bytes(data))
    project.cli("upgrade", "head")
    before = table_contents(project.db)
    verify = project.cli("snapshot", "verify", snapshot, expect=10)
    algorithm = "sha256" if sha256_manifest else "blake3"
    assert f"is damaged: {payload.name} has {algorithm} " in verify.stderr
    project.cli("restore", snapshot, "--yes", expect=10)
    assert table_contents(project.db) == before and version_of(project.db) == [HEAD]
