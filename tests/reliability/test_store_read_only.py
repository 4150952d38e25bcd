"""The snapshot store turns read-only in the middle of a guarded upgrade (a remount
after a disk error, an operator's mistake).

No step may run unjournaled, so the run stops at its next journal line, in one clear
line, exit 9, and the database is exactly what the journal's lines on disk describe:
`safeguard recover`, once the store is writable again, settles it in one go.
"""

from __future__ import annotations

import pytest

from .ledger import Tally
from .mounts import read_only
from .processes import resume, start, wait_stopped
from .states import journal_says, last_operation, restores_in, settle, store_leftovers, which

pytestmark = pytest.mark.reliability

PG = pytest.mark.postgres


@pytest.mark.parametrize(("engine", "point", "expected"), [
    # Between the snapshot and the first revision: nothing was changed.
    pytest.param("sqlite", "journal:snapshot:done", "pre", id="sqlite-before-the-first-revision"),
    # Two revisions in: the database changed, so recover restores the snapshot.
    pytest.param("sqlite", "journal:apply:done#2", "pre", id="sqlite-mid-migration"),
    # Migrated and checked; only the operation's last line cannot be written.
    pytest.param("sqlite", "journal:check:done", "post", id="sqlite-after-the-checks"),
    pytest.param("postgres", "journal:apply:done#2", "pre", id="postgres-mid-migration", marks=PG),
])
def test_a_store_turned_read_only_mid_run_stops_the_run_truthfully(
        engine, point, expected, fault_engine, references, target, ledger):
    refs = references("upgrade", fault_engine)
    project, args = target("upgrade")
    run = start(project, "-q", *args, env={**fault_engine.env, "SAFEGUARD_PAUSE": point})
    try:
        wait_stopped(run)
        with read_only(project.store):
            resume(run)
            code = run.wait()
            # Meanwhile another change is refused before it starts: the store is read-only.
            refused = project.cli("upgrade", "head", expect=None)
    finally:
        run.reap()
    lines = [line for line in run.stderr().splitlines() if line.strip()]

    settled = settle(project)
    state = fault_engine.state(project)
    found = which(state, refs.named())
    said = journal_says(last_operation(project, ("upgrade",)))
    ledger(Tally(tests=1, faults=1, bad_inputs=1, restores=restores_in(project),
                 recoveries=settled.recoveries, data_lost=int(found is None)),
           point=point, state=found, journal=said)

    assert code == 9, run.stderr()
    assert len(lines) == 1 and "cannot write the journal" in lines[0] \
        and "safeguard recover" in lines[0], lines
    assert refused.exit_code == 3 and "not writable" in refused.stderr, refused.stderr
    assert settled.recoveries == 1
    assert found == said == expected, f"database {found}, journal {said}, expected {expected}"
    assert fault_engine.leftovers(project) == [] and store_leftovers(project) == []
