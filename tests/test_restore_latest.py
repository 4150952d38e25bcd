"""`restore latest` means the newest snapshot a person took (or a migration took), never
a safety snapshot: after `restore A`, the newest snapshot is the safety copy of the
state just replaced, and restoring it would bring the bad state back (twice: back and
forth). `snapshot list` marks safety snapshots, for people and for --json."""

from __future__ import annotations

import json
import shutil

from conftest import HEAD, SEED_AT, table_contents, version_of


def test_restore_latest_twice_stays_on_the_snapshot_and_never_picks_a_safety_snapshot(seeded):
    wanted = table_contents(seeded.db)
    seeded.cli("upgrade", "head")  # destructive: snapshot first
    assert version_of(seeded.db) == [HEAD]
    [taken] = [s["id"] for s in json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]]

    first = json.loads(seeded.cli("--json", "restore", "latest", "--yes").stdout)
    second = json.loads(seeded.cli("--json", "restore", "latest", "--yes").stdout)

    assert first["snapshot"]["id"] == taken and second["snapshot"]["id"] == taken
    assert version_of(seeded.db) == [SEED_AT]
    assert table_contents(seeded.db) == wanted
    listed = json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]
    safety = {s["id"] for s in listed if s["safety"]}
    assert safety == {first["safety_snapshot"], second["safety_snapshot"]}
    assert [s["id"] for s in listed if not s["safety"]] == [taken]
    human = seeded.cli("snapshot", "list").stdout.splitlines()
    assert all(("[safety]" in line) == (line.split()[0] in safety) for line in human[1:]), human
    shown = json.loads(seeded.cli("--json", "snapshot", "show", "latest").stdout)
    assert shown["id"] == taken and shown["safety"] is False


def test_restore_latest_with_only_safety_snapshots_left_is_refused_naming_them(seeded):
    seeded.cli("upgrade", "head")
    [taken] = [s["id"] for s in json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]]
    safety = json.loads(seeded.cli("--json", "restore", taken, "--yes").stdout)["safety_snapshot"]
    shutil.rmtree(seeded.store / "snapshots" / taken)  # pruned, or deleted by hand
    before = table_contents(seeded.db)

    refused = seeded.cli("restore", "latest", "--yes", expect=3)

    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("safeguard: error:"), refused.stderr
    assert "only safety snapshots" in lines[0] and safety in lines[0] and "by its id" in lines[0]
    assert table_contents(seeded.db) == before
    # Named by its id, a safety snapshot restores like any other.
    seeded.cli("restore", safety, "--yes")
    assert version_of(seeded.db) == [HEAD]


def test_a_snapshot_is_named_by_a_unique_prefix_or_suffix_of_its_id(seeded):
    """Issue 30 item 9: `restore ef2ccf` (the id's random tail, as people copy it)
    said the id was invalid; a unique prefix or suffix names a snapshot, as git takes
    a commit's; an ambiguous or too short one is refused naming the candidates."""
    wanted = table_contents(seeded.db)
    seeded.cli("upgrade", "head")
    [taken] = [s["id"] for s in json.loads(seeded.cli("--json", "snapshot", "list").stdout)["snapshots"]]
    manual = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    tail = taken.rsplit("-", 1)[1]

    assert json.loads(seeded.cli("--json", "snapshot", "show", tail).stdout)["id"] == taken
    assert json.loads(seeded.cli("--json", "snapshot", "verify", tail).stdout)["ok"] is True
    restored = json.loads(seeded.cli("--json", "restore", tail, "--yes").stdout)
    assert restored["snapshot"]["id"] == taken
    assert version_of(seeded.db) == [SEED_AT] and table_contents(seeded.db) == wanted

    # Both ids start with the same date: ambiguous, refused before anything is touched.
    before = table_contents(seeded.db)
    ambiguous = seeded.cli("restore", taken[:8], "--yes", expect=2)
    assert taken in ambiguous.stderr and manual in ambiguous.stderr
    seeded.cli("restore", "ab", "--yes", expect=2)  # too short to name one safely
    seeded.cli("restore", "ffffffff", "--yes", expect=3)  # names none
    assert table_contents(seeded.db) == before
