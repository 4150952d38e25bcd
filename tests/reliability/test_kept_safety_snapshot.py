"""A manual SQLite restore keeps the file it replaces as its safety snapshot (moved into
the store, not copied). Killed (SIGKILL) at each step of that, then `safeguard recover`:
the database is the pre-restore or the restored state, as the journal says; the store
holds no half-written snapshot; and once the restore is done, the replaced state is a
complete safety snapshot that `restore` brings back exactly, table by table."""

from __future__ import annotations

import pytest

from safeguard.store import SnapshotStore

from .ledger import Tally
from .states import journal_says, last_operation, restores_in, settle, store_leftovers, which

pytestmark = pytest.mark.reliability

KEEPING_POINTS = [
    "journal:safety-snapshot:keeping",
    "sqlite:restore:before-swap",
    "sqlite:restore:kept",
    "sqlite:restore:swapped",
    "journal:restore:done",
    "store:before-manifest",
    "journal:safety-snapshot:done",
]


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("point", KEEPING_POINTS)
def test_a_restore_killed_while_keeping_the_replaced_file(
        engine, point, fault_engine, references, target, ledger):
    refs = references("restore", fault_engine)
    project, args = target("restore")
    killed = project.run("-q", *args, env={**fault_engine.env, "SAFEGUARD_FAULT": point})

    settled = settle(project)
    found = which(fault_engine.state(project), refs.named())
    said = journal_says(last_operation(project, ("restore",)))
    kept = [s for s in SnapshotStore(project.store).list() if s.safety]
    ledger(Tally(tests=1, faults=int(killed.returncode == -9), restores=restores_in(project),
                 recoveries=settled.recoveries, data_lost=int(found is None)),
           point=point, state=found, journal=said, kept=len(kept))

    assert killed.returncode == -9, killed.stderr
    assert found == said, f"the database is {found}, the journal says {said}"
    assert store_leftovers(project) == []
    if found == "pre":  # stopped before the swap: nothing was kept, nothing was restored
        assert kept == []
        return
    (safety,) = kept  # the replaced state survived the crash as a complete snapshot
    assert project.run("snapshot", "verify", safety.id).returncode == 0
    back = project.run("restore", safety.id, "--yes")
    assert back.returncode == 0, back.stderr
    assert fault_engine.state(project) == refs.pre
