"""SIGKILL at a random instant of a guarded upgrade, of the restore that follows a
failing health check, and of a manual restore, on SQLite and PostgreSQL; and of a
PostgreSQL upgrade whose undo is its own transaction.

Each run's seed picks the instant (spread over the run's measured duration, counted
from its first journal line), whether the process dies alone (the OOM killer) or with
its children (a power cut, a container stop), and whether a command that must be
refused is tried before recovering. Afterwards the database is exactly the pre-run
state or the finished one, table by table and schema included; the journal says
which; `safeguard recover` was needed at most once. A failing run prints the command
that replays it: `SAFEGUARD_FAULT_SEED=<seed> pytest '<test>' -k <engine>`.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass

import pytest

from .ledger import Tally
from .processes import file_size, start, wait_until
from .scenarios import SCENARIOS, Timeline, journal_of, lines_after
from .states import (
    differences,
    journal_says,
    last_operation,
    restores_in,
    settle,
    store_leftovers,
    which,
)

pytestmark = pytest.mark.reliability

#: Where kills are aimed, and how often: start-up and planning (before the first journal
#: line), the operation itself (first line to last), and the exit after the last line.
REGIONS = {"early": 0.1, "active": 0.8, "late": 0.1}
#: The share of runs that first try a command that must be refused until recovered.
PROBED = 0.25


@dataclass(frozen=True)
class KillPlan:
    """Everything a seed decides about one run."""

    seed: int
    region: str  # early | active | late (see REGIONS)
    fraction: float  # of the way through the region
    group: bool  # kill the whole process group, children included
    probe: bool  # try `upgrade head` before recovering: it must be refused

    @classmethod
    def from_seed(cls, seed: int) -> "KillPlan":
        rng = random.Random(seed)
        region = rng.choices(list(REGIONS), weights=list(REGIONS.values()))[0]
        return cls(seed, region, rng.random(), rng.random() < 0.5, rng.random() < PROBED)

    def describe(self) -> str:
        who = "its process group" if self.group else "the process alone"
        return f"{self.fraction:.0%} of the way through its {self.region} part, killing {who}"


def kill_at_random(project, args: tuple[str, ...], env: dict[str, str], timeline: Timeline,
                   plan: KillPlan) -> tuple[int, float, str]:
    """Start the run, SIGKILL it at the planned instant; its exit status, the instant
    (seconds from its start), and its stderr."""
    journal = journal_of(project)
    offset = file_size(journal)
    lines, delay = timeline.instant(plan.fraction, plan.region)
    run = start(project, *args, env=env)
    try:
        wait_until(lambda: lines_after(journal, offset) >= lines, run,
                   what=f"journal line {lines}")
        time.sleep(delay)
        at = time.monotonic() - run.started
        run.kill(group=plan.group)
        return run.wait(), at, run.stderr()
    finally:
        run.reap()


def interrupt(scenario_name: str, engine: str, seed: int, fault_engine, references, target,
              ledger) -> None:
    scenario = SCENARIOS[scenario_name]
    refs = references(scenario_name, fault_engine)
    plan = KillPlan.from_seed(seed)
    project, args = target(scenario_name)

    code, at, stderr = kill_at_random(project, args, fault_engine.env, refs.timeline, plan)
    landed = code == -signal.SIGKILL
    test = os.environ.get("PYTEST_CURRENT_TEST", "tests/reliability").split("[")[0]
    context = (f"[replay: SAFEGUARD_FAULT_SEED={seed} pytest '{test}' -k {engine}] "
               f"{scenario_name} on {engine}, {plan.describe()}: killed at {at:.3f}s "
               f"(a whole run takes {refs.timeline.end:.3f}s), exit {code}")
    if not landed:
        assert code == scenario.exit_code, f"{context}\n{stderr[-3000:]}"

    settled = settle(project, probe_refusal=(lambda: refused(project)) if plan.probe else None)
    state = fault_engine.state(project)
    found = which(state, refs.named())
    said = journal_says(last_operation(project, scenario.kinds))
    ledger(Tally(tests=1, faults=int(landed), missed=int(not landed), bad_inputs=settled.refused,
                 restores=restores_in(project), recoveries=settled.recoveries,
                 data_lost=int(found is None)),
           seed=seed, killed_at=round(at, 3), state=found, journal=said)

    assert found is not None, (
        f"{context}: the database is neither the pre-run nor the finished state "
        f"(differs from pre-run in {differences(state, refs.pre)}"
        + (f", from finished in {differences(state, refs.post)})" if refs.post else ")"))
    assert found == said, f"{context}: the database is the {found} state, the journal says {said}"
    assert found == "pre" or scenario.reaches_post, f"{context}: ended {found}"
    assert fault_engine.leftovers(project) == [], context
    assert store_leftovers(project) == [], context


def refused(project) -> None:
    """Until recovered, a command that changes the database is refused in one line."""
    result = project.cli("upgrade", "head", expect=None)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 9 and len(lines) == 1 and "safeguard recover" in lines[0], (
        f"exit {result.exit_code}: {result.stderr}")


@pytest.mark.runs(sqlite=20, postgres=6)
def test_an_upgrade_killed_at_random_is_pre_run_or_migrated(engine, seed, fault_engine, references,
                                                           target, ledger):
    interrupt("upgrade", engine, seed, fault_engine, references, target, ledger)


@pytest.mark.runs(sqlite=10, postgres=3)
def test_a_restore_after_a_failed_check_killed_at_random_is_pre_run(engine, seed, fault_engine,
                                                                    references, target, ledger):
    interrupt("failed-check", engine, seed, fault_engine, references, target, ledger)


@pytest.mark.runs(sqlite=10, postgres=3)
def test_a_manual_restore_killed_at_random_is_before_or_restored(engine, seed, fault_engine,
                                                                 references, target, ledger):
    interrupt("restore", engine, seed, fault_engine, references, target, ledger)


@pytest.mark.runs(postgres=6)
def test_an_upgrade_undone_by_its_transaction_killed_at_random_is_pre_run_or_migrated(
        engine, seed, fault_engine, references, target, ledger):
    """No snapshot to fall back on: the server rolls back what the killed run left
    uncommitted, and recover confirms which state the database is in."""
    interrupt("transaction", engine, seed, fault_engine, references, target, ledger)
