"""A SQLite database owned by the application's user (not the one running safeguard)
keeps its mode, owner and group through a restore that a SIGKILL interrupts and
`safeguard recover` finishes: the manual restore, and the restore after a failed check.
"""

from __future__ import annotations

import pytest
from support.owners import give_away, mode_and_owner, needs_root

from .ledger import Tally
from .states import journal_says, last_operation, restores_in, settle, which

pytestmark = [pytest.mark.reliability, needs_root]


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize(("scenario", "point"), [
    ("restore", "journal:swap:started"),
    ("restore", "sqlite:restore:kept"),  # the replaced file has a second name beside it
    ("restore", "sqlite:restore:swapped"),  # that name is the kept safety snapshot's only one
    ("failed-check", "sqlite:restore:swapped"),
])
def test_a_killed_restore_finished_by_recover_keeps_the_files_owner(
        engine, scenario, point, fault_engine, references, target, ledger):
    refs = references(scenario, fault_engine)
    project, args = target(scenario)
    before = give_away(project.db)
    killed = project.run("-q", *args, env={**fault_engine.env, "SAFEGUARD_FAULT": point})

    settled = settle(project)
    state = fault_engine.state(project)
    found = which(state, refs.named())
    said = journal_says(last_operation(project, ("restore", "upgrade")))
    ledger(Tally(tests=1, faults=int(killed.returncode == -9), restores=restores_in(project),
                 recoveries=settled.recoveries, data_lost=int(found is None)),
           point=point, state=found, journal=said)

    assert killed.returncode == -9, killed.stderr
    assert settled.recoveries == 1
    assert found == said, f"the database is {found}, the journal says {said}"
    assert mode_and_owner(project.db) == before
