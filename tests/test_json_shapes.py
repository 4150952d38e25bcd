"""--json: one object on stdout per command, with the top-level keys docs/output.md
documents. Changing a shape must change this test (and docs/output.md) on purpose."""

from __future__ import annotations

import json

from conftest import HEAD

MIGRATION = {"outcome", "plan", "applied", "snapshot", "health", "failed_revision", "error",
             "restored", "heads", "operation", "timed_out", "interrupted", "signal", "remote",
             "warnings"}
MANIFEST = {"id", "created_at", "reason", "engine", "database", "revisions", "revision", "size",
            "sha256", "files", "row_counts", "label", "pinned", "compression", "content_sha256",
            "extra", "safety", "payload_kind", "database_name", "unauthenticated"}

REHEARSAL = {"outcome", "ok", "target", "database", "heads", "verdict", "copy", "plan",
             "revisions", "health", "failed_revision", "seconds", "connections_to_copy",
             "lock_sampling", "operation", "live_changed"}

SHAPES = [
    (("rehearse",), REHEARSAL),
    (("upgrade", HEAD), MIGRATION),
    (("upgrade", "--rehearse"), MIGRATION | {"rehearsal"}),
    (("upgrade", "--dry-run"), {"outcome", "plan"}),
    (("plan",), {"database", "current", "target", "direction", "expected_heads", "policy", "undo",
                 "snapshot", "snapshot_reason", "database_size", "steps", "preconditions"}),
    (("lint",), {"revisions"}),
    (("check",), {"ok", "checks", "preconditions"}),
    (("snapshot", "create"), MANIFEST),
    (("snapshot", "show", "latest"), MANIFEST),
    (("snapshot", "list"), {"snapshots", "warnings", "beside"}),
    (("snapshot", "verify", "latest"), {"snapshot", "ok", "problems"}),
    (("snapshot", "prune", "--dry-run"), {"dry_run", "decisions"}),
    (("restore", "latest", "--dry-run"), {"snapshot", "heads_before", "dry_run", "warnings",
                                          "safety_snapshot", "result", "health",
                                          "interrupted", "signal", "discards"}),
    (("recover",), {"recovered"}),
    (("log",), {"operations"}),
    (("config",), {"settings", "database"}),
    (("current",), {"database", "heads"}),
    (("heads",), {"heads"}),
    (("history",), {"revisions"}),
    (("schedule", "--status"), {"running", "pid", "since", "job_store", "jobs", "remote"}),
    (("stamp", HEAD), {"database", "heads"}),
]


def test_every_reporting_command_prints_its_documented_keys(seeded):
    for args, keys in SHAPES:
        result = seeded.cli("--json", *args)
        document = json.loads(result.stdout)
        assert set(document) == keys, f"{' '.join(args)}: {sorted(set(document) ^ keys)}"


def test_an_error_is_one_object_with_its_exit_code(seeded):
    result = seeded.cli("--json", "upgrade", "no-such-revision", expect=3)
    document = json.loads(result.stdout)
    assert set(document) == {"error", "exit_code", "kind", "result"}
    assert document["exit_code"] == 3 and document["kind"] == "UnknownRevisionError"
