"""A SQLite file that is a bind mount of its own (issue 33, item 8): Docker's
`-v app.db:/app/app.db`. The file can be written but not replaced by a rename (EBUSY),
and a restore replaces it by rename: the pre-run checks passed, the run failed, its
undo failed with EBUSY, and the database stayed half-migrated until someone unmounted
it and ran `recover`. A manual restore ended the same way (exit 8, the operation left
open). Both are refused before anything changes now.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import CHAIN, HEAD, SEED_AT, schema_of, table_contents, version_of

from safeguard.journal import Journal

from .ledger import Tally
from .mounts import bind_file, require_mount
from .states import error_line

pytestmark = pytest.mark.reliability

FAILS = "fa11ed000001"


def _state(project) -> dict:
    return {"rows": table_contents(project.db), "schema": schema_of(project.db)}


@pytest.fixture
def mounted(seeded, tmp_path):
    """The project's database seen through a bind mount of the file, as a container
    sees the host's file."""
    require_mount()
    host = tmp_path / "host" / "app.db"
    host.parent.mkdir()
    shutil.copy2(seeded.db, host)
    with bind_file(host, seeded.db):
        yield seeded


def test_a_run_that_would_need_a_snapshot_undo_is_refused_before_it_changes_anything(mounted, ledger):
    mounted.add_revision(FAILS, HEAD, "raise RuntimeError('this revision fails')")
    before = _state(mounted)
    run = mounted.run("-q", "upgrade", "head")
    after = _state(mounted)
    ledger(Tally(tests=1, faults=1, bad_inputs=1, refused=int(run.returncode == 3),
                 data_lost=int(after != before)), kind="bind mount", command="upgrade")

    assert run.returncode == 3, run.stderr
    line = error_line(run.stderr)
    assert "mount point" in line and str(mounted.db) in line, line
    assert after == before and version_of(mounted.db) == [SEED_AT]
    assert Journal(mounted.store).unfinished() == []


def test_a_restore_over_a_bind_mounted_file_is_refused_before_it_changes_anything(seeded, tmp_path, ledger):
    require_mount()
    snap = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("-q", "upgrade", CHAIN[5])
    host = tmp_path / "host" / "app.db"
    host.parent.mkdir()
    shutil.copy2(seeded.db, host)
    with bind_file(host, seeded.db):
        before = _state(seeded)
        run = seeded.run("-q", "restore", snap, "--yes")
        after = _state(seeded)
    ledger(Tally(tests=1, faults=1, bad_inputs=1, refused=int(run.returncode == 3),
                 data_lost=int(after != before)), kind="bind mount", command="restore")

    assert run.returncode == 3, run.stderr
    line = error_line(run.stderr)
    assert "mount point" in line, line
    assert after == before
    assert Journal(seeded.store).unfinished() == []


def test_a_run_without_a_snapshot_undo_still_migrates_a_bind_mounted_file(mounted, ledger):
    """`--policy never` takes no snapshot, so nothing would be restored by rename."""
    run = mounted.run("-q", "upgrade", "head", "--policy", "never")
    ledger(Tally(tests=1, faults=1, data_lost=int(version_of(mounted.db) != [HEAD])),
           kind="bind mount", command="upgrade --policy never")
    assert run.returncode == 0, run.stderr
    assert version_of(mounted.db) == [HEAD]
