"""Operations that stop before they change the database: each must close its journal
operation itself (refused), change nothing, and leave nothing for `safeguard recover`;
recover finishes only what had begun changing the database.

    restore, sessions still connected     PostgreSQL cannot rename a database in use
    restore, snapshot damaged             after its check, before the swap (both engines)
    restore, killed before the swap       recover closes it: the database never changed
    restore, killed once the swap began   recover completes it
    stamp, database locked                another writer holds SQLite's write lock

The first came from a user: a restore refused for one `psql` session left its operation
open, and `recover` then completed it, bringing back the older data.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import HEAD, SEED_AT

from safeguard.store import SnapshotStore

from .ledger import Tally
from .processes import resume, start, wait_stopped
from .states import error_line, last_operation, restores_in, settle, store_leftovers

pytestmark = pytest.mark.reliability

PG = pytest.mark.postgres
BOTH = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=PG)]


@pytest.fixture
def at_head_with_snapshot(fault_engine, project):
    """A snapshot of the seeded database, then the database swapped for the one at
    head: (project, snapshot id, the snapshot's state, the state now)."""
    placed = fault_engine.place(project, SEED_AT)
    wanted = fault_engine.state(placed)
    snapshot = json.loads(placed.cli("--json", "snapshot", "create").stdout)["id"]
    fault_engine.replace(placed, HEAD)
    yield placed, snapshot, wanted, fault_engine.state(placed)
    fault_engine.discard(placed)


def damage(project, snapshot: str) -> None:
    """Cut the snapshot's payload file in half (the disk under the store failing)."""
    directory = SnapshotStore(project.store).path_of(snapshot)
    payload = next(p for p in sorted(directory.rglob("*"))
                   if p.is_file() and p.name != "manifest.json")
    payload.write_bytes(payload.read_bytes()[: payload.stat().st_size // 2])


def settled_after(ledger, engine, project, wanted: dict, *, refused: int, faults: int = 1):
    """Settle (recover at most once), read the state, record the run: (settled, state)."""
    settled = settle(project)
    state = engine.state(project)
    ledger(Tally(tests=1, faults=faults, refused=refused, restores=restores_in(project),
                 recoveries=settled.recoveries, data_lost=int(state != wanted)))
    return settled, state


@pytest.mark.parametrize("engine", [pytest.param("postgres", marks=PG)])
def test_a_restore_refused_for_connected_sessions_is_closed_not_finished_by_recover(
        engine, fault_engine, at_head_with_snapshot, ledger):
    project, snapshot, _, before = at_head_with_snapshot
    project.configure(pg_sessions_timeout="1")
    with fault_engine.server.connect(project.database):  # a psql session left open
        refused = project.run("-q", "restore", snapshot, "--yes", env=fault_engine.env)
    op = last_operation(project, ("restore",))
    settled, state = settled_after(ledger, fault_engine, project, before, refused=1, faults=0)
    line = error_line(refused.stderr)

    assert refused.returncode == 8 and "session" in line and "not changed" in line, refused.stderr
    assert op.end is not None and op.end["outcome"] == "refused", op
    assert settled.recoveries == 0
    assert state == before
    assert project.cli("upgrade", "head").exit_code == 0
    assert fault_engine.leftovers(project) == [] and store_leftovers(project) == []


@pytest.mark.parametrize("engine", BOTH)
def test_a_snapshot_damaged_after_its_check_refuses_the_restore_before_the_swap(
        engine, fault_engine, at_head_with_snapshot, ledger):
    project, snapshot, _, before = at_head_with_snapshot
    run = start(project, "-q", "restore", snapshot, "--yes",
                env={**fault_engine.env, "SAFEGUARD_PAUSE": "journal:restore:started"})
    try:
        wait_stopped(run)
        damage(project, snapshot)
        resume(run)
        code = run.wait()
    finally:
        run.reap()
    op = last_operation(project, ("restore",))
    settled, state = settled_after(ledger, fault_engine, project, before, refused=1)
    line = error_line(run.stderr())

    # SQLite proves the bytes as they come in: their digest names the damage (exit 10,
    # a damaged snapshot's); PostgreSQL's pg_restore stops on the cut dump first (8).
    assert code == (10 if engine == "sqlite" else 8) and "not changed" in line, run.stderr()
    assert op.end is not None and op.end["outcome"] == "refused", op
    assert settled.recoveries == 0
    assert state == before
    assert fault_engine.leftovers(project) == [] and store_leftovers(project) == []


@pytest.mark.parametrize("engine", BOTH)
@pytest.mark.parametrize(("point", "expected", "action"), [
    pytest.param("journal:restore:started", "before", "confirmed", id="before-the-swap"),
    pytest.param("journal:swap:started", "snapshot", "restored", id="once-the-swap-began"),
])
def test_recover_finishes_a_killed_restore_only_if_its_swap_had_begun(
        engine, point, expected, action, fault_engine, at_head_with_snapshot, ledger):
    project, snapshot, wanted, before = at_head_with_snapshot
    killed = project.run("-q", "restore", snapshot, "--yes",
                         env={**fault_engine.env, "SAFEGUARD_FAULT": point})
    recovered = project.cli("recover")
    settled, state = settled_after(ledger, fault_engine, project,
                                   before if expected == "before" else wanted, refused=0)

    assert killed.returncode == -9, killed.stderr
    # recover says what it is about to do before it does it
    said = recovered.stderr + recovered.stdout
    if action == "restored":
        assert f"completing the restore of snapshot {snapshot}" in said, said
    else:
        assert "had not begun changing the database" in said, said
    assert f": {action}:" in recovered.stdout, recovered.stdout
    assert state == (before if expected == "before" else wanted)
    assert settled.recoveries == 0  # the recover above settled it
    assert fault_engine.leftovers(project) == [] and store_leftovers(project) == []


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_stamp_refused_by_a_locked_database_leaves_nothing_pending(
        engine, fault_engine, project, ledger):
    project = fault_engine.place(project, SEED_AT)
    before = fault_engine.state(project)
    writer = sqlite3.connect(project.db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another application writing
        refused = project.run("-q", "stamp", HEAD)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    op = last_operation(project, ("stamp",))
    settled, state = settled_after(ledger, fault_engine, project, before, refused=1, faults=0)
    line = error_line(refused.stderr)

    assert refused.returncode != 0 and "locked" in line, refused.stderr
    assert op.end is not None and op.end["outcome"] == "failed", op
    assert settled.recoveries == 0
    assert state == before
    assert project.cli("upgrade", "head").exit_code == 0


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_timeout_spent_by_the_snapshot_ends_the_run_without_a_restore(
        engine, fault_engine, project, ledger):
    """Nothing was applied, so there is nothing to undo: restoring the snapshot would
    only risk the writes made since it was taken (and, refused, leave it to recover)."""
    project = fault_engine.place(project, SEED_AT)
    before = fault_engine.state(project)
    stopped = project.run("-q", "upgrade", "head", "--timeout", "0.001")
    op = last_operation(project, ("upgrade",))
    settled, state = settled_after(ledger, fault_engine, project, before, refused=1, faults=0)
    line = error_line(stopped.stderr)

    assert stopped.returncode == 6 and "nothing was applied" in line, stopped.stderr
    assert op.end is not None and op.end["outcome"] == "failed", op
    assert not [e for e in op.steps if e.get("step") == "restore"], op.steps
    assert settled.recoveries == 0
    assert state == before
