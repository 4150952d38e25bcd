"""A damaged journal, and a journal or lock path that is not a file.

The journal is read by nearly every command, `recover` first. A line of it damaged
(bytes that are not text, text that is not JSON, JSON that is not an object: a disk
error, a hand edit) is skipped with one warning where skipping it is safe: the
operations around it are read as they are. Where it is not, the command says so in one
line and changes nothing: an operation with no end line after the damage may have lost
its end there, so `recover` will not guess (finishing a restore that had in fact
finished would restore it again over everything written since), and `prune` will not
delete what a lost line may have protected. A journal or a lock file that is a
directory or a FIFO is one line naming the path, never a traceback (nor a hang).
"""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from conftest import HEAD, SEED_AT, table_contents, version_of

from safeguard.lock import lock_path

from .ledger import Tally
from .states import error_line

pytestmark = pytest.mark.reliability

GARBAGE = {
    "binary": b"\xff\xfe\x00\x9c\x81 garbage \xc3\x28\n",
    "text": b"#### this line was overwritten ####\n",
    "a JSON list": b"[1, 2, 3]\n",
    "a JSON string": b'"end"\n',
    "null": b"null\n",
}
#: Commands that read the journal: each must work, and say once that a line was skipped.
READERS = [("log",), ("--json", "log"), ("snapshot", "create"), ("upgrade", "head"), ("recover",),
           ("schedule", "--status"), ("snapshot", "prune", "--dry-run")]


def journal(project):
    return project.store / "journal.jsonl"


def insert_a_row(project) -> None:
    """A write committed by the application after safeguard's operation."""
    with sqlite3.connect(project.db) as conn:
        conn.execute("UPDATE properties SET name = 'renamed by the application' "
                     "WHERE rowid = (SELECT min(rowid) FROM properties)")
    conn.close()


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_a_damaged_line_in_a_finished_part_is_skipped_with_a_warning(seeded, kind, ledger):
    seeded.cli("snapshot", "create")
    with open(journal(seeded), "ab") as out:  # between two finished operations
        out.write(GARBAGE[kind])
    seeded.cli("snapshot", "create")
    lines = journal(seeded).read_bytes().count(b"\n")
    damaged_at = next(i for i, line in enumerate(journal(seeded).read_bytes().splitlines(), 1)
                      if line + b"\n" == GARBAGE[kind])

    results = {args: seeded.run(*args) for args in READERS}
    ledger(Tally(tests=1, faults=1, data_lost=int(version_of(seeded.db) != [HEAD])),
           fault="damaged journal")

    for args, done in results.items():
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        said = [line for line in done.stderr.splitlines() if "journal" in line and "damaged" in line]
        assert len(said) == 1 and f"line {damaged_at}" in said[0], (args, done.stderr)
    assert version_of(seeded.db) == [HEAD]
    assert journal(seeded).read_bytes().count(b"\n") > lines  # the journal goes on


@pytest.mark.parametrize("kind", ["binary", "text"])
def test_a_finished_restore_whose_end_line_is_damaged_is_not_restored_again(seeded, kind, ledger):
    snapshot = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", "head")
    seeded.cli("restore", snapshot, "--yes")
    insert_a_row(seeded)  # the application writes after the restore
    wanted = table_contents(seeded.db)
    entries = journal(seeded).read_bytes().splitlines(keepends=True)
    (end,) = [i for i, line in enumerate(entries)
              if b'"event": "end"' in line and b'"outcome": "restored"' in line]
    entries[end] = GARBAGE[kind]
    journal(seeded).write_bytes(b"".join(entries))

    refused = seeded.run("upgrade", "head")
    recover = seeded.run("recover")
    kept = table_contents(seeded.db)
    ledger(Tally(tests=1, faults=1, bad_inputs=2, refused=2, data_lost=int(kept != wanted)),
           fault="damaged journal")

    assert refused.returncode == 9 and "recover" in error_line(refused.stderr), refused.stderr
    line = error_line(recover.stderr)
    assert recover.returncode == 3 and f"line {end + 1}" in line and "--abandon" in line, recover.stderr
    assert kept == wanted and version_of(seeded.db) == [SEED_AT]
    # A person checked the database: --abandon closes the operation, and work goes on.
    seeded.cli("recover", "--abandon", "--yes")
    seeded.cli("upgrade", "head")
    assert version_of(seeded.db) == [HEAD]


def test_prune_deletes_nothing_while_a_damaged_line_may_have_protected_a_snapshot(seeded, ledger):
    seeded.configure(keep_last="1", keep_daily="0", keep_weekly="0", keep_monthly="0")
    pre_migration = json.loads(seeded.cli("--json", "upgrade", "head").stdout)["snapshot"]["id"]
    seeded.cli("snapshot", "create")
    entries = journal(seeded).read_bytes().splitlines(keepends=True)
    # The line that names the migration's snapshot as done (what keeps it) is damaged.
    (done,) = [i for i, line in enumerate(entries) if b'"step": "snapshot"' in line
               and b'"status": "done"' in line and pre_migration.encode() in line]
    entries[done] = GARBAGE["binary"]
    journal(seeded).write_bytes(b"".join(entries))
    before = sorted(p.name for p in (seeded.store / "snapshots").iterdir())

    pruned = seeded.run("snapshot", "prune")
    after = sorted(p.name for p in (seeded.store / "snapshots").iterdir())
    ledger(Tally(tests=1, faults=1, bad_inputs=1, refused=1,
                 data_lost=int(pre_migration not in after)), fault="damaged journal")

    line = error_line(pruned.stderr)
    assert pruned.returncode == 3 and f"line {done + 1}" in line and "damaged" in line, pruned.stderr
    assert after == before


@pytest.mark.parametrize("what", ["journal", "lock"])
@pytest.mark.parametrize("made", ["directory", "FIFO"])
def test_a_journal_or_lock_path_that_is_not_a_file_is_one_line(seeded, what, made, ledger):
    seeded.cli("snapshot", "create")
    path = journal(seeded) if what == "journal" else lock_path(seeded.store, str(seeded.db.resolve()))
    path.unlink(missing_ok=True)
    path.parent.mkdir(exist_ok=True)
    os.mkdir(path) if made == "directory" else os.mkfifo(path)
    before = table_contents(seeded.db)

    results = {args: seeded.run(*args, timeout=60)
               for args in [("snapshot", "create"), ("upgrade", "head"), ("recover",), ("log",)]}
    ledger(Tally(tests=1, faults=1, bad_inputs=len(results), refused=len(results),
                 data_lost=int(table_contents(seeded.db) != before)),
           fault=f"journal or lock that is a {made}")

    for args, done in results.items():
        if what == "lock" and args == ("log",):
            assert done.returncode == 0, done.stderr  # log takes no lock
            continue
        line = error_line(done.stderr)
        assert done.returncode == 3, (args, done.stderr)
        assert str(path) in line and made.lower() in line.lower(), (args, line)
    assert table_contents(seeded.db) == before and version_of(seeded.db) == [SEED_AT]
