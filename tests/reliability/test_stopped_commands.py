"""SIGINT and SIGTERM during `snapshot create` and `rehearse` (issue 33, item 7): the
command stops, removes what it had half written (the `.tmp-*` snapshot folder, the
rehearsal's copy), closes its operation in the journal and exits 128 + the signal.
SIGTERM used to end both at once: the operation stayed open, so the next `upgrade`
exited 9 until someone ran `safeguard recover`.
"""

from __future__ import annotations

import os
import signal

import pytest
from conftest import HEAD, SEED_AT, table_contents, version_of

from safeguard.journal import Journal
from test_interrupt import SIGNAL_IDS, SIGNALS

from .ledger import Tally
from .processes import resume, start, wait_stopped
from .states import error_line, store_leftovers

pytestmark = pytest.mark.reliability


def _signal_at(project, point: str, sig: int, *args: str) -> tuple[int, str]:
    run = start(project, *args, env={"SAFEGUARD_PAUSE": point})
    try:
        wait_stopped(run)
        os.kill(run.pid, sig)
        resume(run)
        return run.wait(), run.stderr()
    finally:
        run.reap()


def _left_open(project) -> list:
    return Journal(project.store).unfinished()


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_during_snapshot_create_leaves_nothing_open(seeded, sig, ledger):
    before = table_contents(seeded.db)
    code, stderr = _signal_at(seeded, "sqlite:snapshot:copied", sig, "snapshot", "create")
    left, open_ops = store_leftovers(seeded), _left_open(seeded)
    upgrade = seeded.run("-q", "upgrade", "head")
    ledger(Tally(tests=1, faults=1, interrupts=1, refused=int(code == 128 + sig),
                 data_lost=int(table_contents(seeded.db) != before and upgrade.returncode != 0)),
           kind="signal during snapshot create", signal=signal.Signals(sig).name, exit=code)

    assert code == 128 + sig, stderr
    assert f"interrupted by {signal.Signals(sig).name}" in error_line(stderr)
    assert left == [] and open_ops == []
    assert upgrade.returncode == 0, upgrade.stderr
    assert version_of(seeded.db) == [HEAD]


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("point", ["journal:copy:started", "journal:apply:started", "journal:check:started"])
def test_a_signal_during_a_rehearsal_drops_its_copy_and_closes_it(seeded, sig, point, ledger):
    before = table_contents(seeded.db)
    code, stderr = _signal_at(seeded, point, sig, "rehearse", "head")
    copies = sorted(p.name for p in (seeded.store / "rehearsals").glob("*"))
    open_ops = _left_open(seeded)
    after = table_contents(seeded.db)
    ledger(Tally(tests=1, faults=1, interrupts=1, data_lost=int(after != before)),
           kind="signal during rehearse", signal=signal.Signals(sig).name, point=point, exit=code)

    assert code == 128 + sig, stderr
    assert f"interrupted by {signal.Signals(sig).name}" in error_line(stderr)
    assert copies == [] and open_ops == []
    assert after == before and version_of(seeded.db) == [SEED_AT]
