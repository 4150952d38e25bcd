"""SIGINT and SIGTERM at a random instant of a guarded upgrade, of the restore that
follows a failing health check, and of a manual restore, on SQLite and PostgreSQL.

The signals a deploy sends, as it sends them: SIGINT to the whole process group (Ctrl-C
at a terminal, a cancelled CI job), SIGTERM to the process alone (a Kubernetes pod
replaced) or to the whole group (`systemctl stop`), sometimes a second one a moment
later. Each run's seed picks the instant (on the run's measured timeline, as the random
kills do), the signal, its target and the second signal.

Afterwards, with no `safeguard recover` at all: the database is exactly the pre-run
state or the finished one, table by table and schema included; the journal says which
and holds no unfinished operation; nothing is left beside the database or in the store.
A failing run prints the command that replays it.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass

import pytest

from safeguard.journal import Journal

from .ledger import Tally
from .processes import file_size, start, wait_until
from .scenarios import SCENARIOS, Timeline, journal_of, lines_after
from .states import differences, journal_says, last_operation, restores_in, store_leftovers, which

pytestmark = pytest.mark.reliability

#: Where signals are aimed, and how often (see test_random_kills.REGIONS).
REGIONS = {"early": 0.1, "active": 0.8, "late": 0.1}
#: (signal, sent to the whole group), as each sender sends it.
SENDERS = {
    "ctrl-c": (signal.SIGINT, True),
    "kubernetes": (signal.SIGTERM, False),
    "systemd": (signal.SIGTERM, True),
}
SECOND = 0.3  # the share of runs that get a second signal


@dataclass(frozen=True)
class SignalPlan:
    """Everything a seed decides about one run."""

    seed: int
    region: str
    fraction: float
    sender: str
    second_after: float | None  # seconds after the first, or no second signal

    @classmethod
    def from_seed(cls, seed: int) -> "SignalPlan":
        rng = random.Random(seed)
        region = rng.choices(list(REGIONS), weights=list(REGIONS.values()))[0]
        fraction, sender = rng.random(), rng.choice(list(SENDERS))
        second = rng.uniform(0.0, 0.5) if rng.random() < SECOND else None
        return cls(seed, region, fraction, sender, second)

    @property
    def signum(self) -> int:
        return SENDERS[self.sender][0]

    def describe(self) -> str:
        again = f", again {self.second_after:.2f}s later" if self.second_after is not None else ""
        return (f"{signal.Signals(self.signum).name} as {self.sender} sends it, {self.fraction:.0%} "
                f"of the way through its {self.region} part{again}")


def signal_at_random(project, args, env, timeline: Timeline, plan: SignalPlan) -> tuple[int, float, bool, str]:
    """Start the run and signal it at the planned instant; (exit status, the instant in
    seconds from its start, whether it was alive to receive the signal, stderr)."""
    journal = journal_of(project)
    offset = file_size(journal)
    lines, delay = timeline.instant(plan.fraction, plan.region)
    signum, group = SENDERS[plan.sender]
    run = start(project, *args, env=env)
    try:
        wait_until(lambda: lines_after(journal, offset) >= lines, run, what=f"journal line {lines}")
        time.sleep(delay)
        at = time.monotonic() - run.started
        landed = run.alive()
        send(run.pid, signum, group)
        if plan.second_after is not None:
            time.sleep(plan.second_after)
            send(run.pid, signum, group)
        return run.wait(), at, landed, run.stderr()
    finally:
        run.reap()


def send(pid: int, signum: int, group: bool) -> None:
    try:
        os.killpg(pid, signum) if group else os.kill(pid, signum)
    except ProcessLookupError:
        pass


def interrupt(scenario_name: str, engine: str, seed: int, fault_engine, references, target,
              ledger) -> None:
    scenario = SCENARIOS[scenario_name]
    refs = references(scenario_name, fault_engine)
    plan = SignalPlan.from_seed(seed)
    project, args = target(scenario_name)

    code, at, landed, stderr = signal_at_random(project, args, fault_engine.env, refs.timeline, plan)
    test = os.environ.get("PYTEST_CURRENT_TEST", "tests/reliability").split("[")[0]
    context = (f"[replay: SAFEGUARD_FAULT_SEED={seed} pytest '{test}' -k {engine}] "
               f"{scenario_name} on {engine}, {plan.describe()}: signalled at {at:.3f}s "
               f"(a whole run takes {refs.timeline.end:.3f}s), exit {code}")

    unfinished = Journal(project.store).unfinished()
    state = fault_engine.state(project)
    found = which(state, refs.named())
    record = last_operation(project, scenario.kinds)
    said = journal_says(record) if not unfinished else None
    ledger(Tally(tests=1, faults=int(landed), interrupts=int(landed), missed=int(not landed),
                 restores=restores_in(project), data_lost=int(found is None)),
           seed=seed, signalled_at=round(at, 3), state=found, journal=said, exit=code)

    assert found is not None, (
        f"{context}: the database is neither the pre-run nor the finished state "
        f"(differs from pre-run in {differences(state, refs.pre)}"
        + (f", from finished in {differences(state, refs.post)})" if refs.post else ")")
        + f"\n{stderr[-3000:]}")
    assert unfinished == [], f"{context}: an interrupt left operation {unfinished[0].id} for recover"
    assert found == said, f"{context}: the database is the {found} state, the journal says {said}"
    assert found == "pre" or scenario.reaches_post, f"{context}: ended {found}"
    assert fault_engine.leftovers(project) == [], context
    assert store_leftovers(project) == [], context
    if record is not None and record.end.get("interrupted"):
        # The run reported the signal: the shell's code for it, no traceback. A second
        # signal may come after the handlers are restored, while the process exits: it
        # then dies of it, which a shell reports as the same 128 + n.
        allowed = {128 + plan.signum} | ({-plan.signum} if plan.second_after is not None else set())
        assert code in allowed, f"{context}\n{stderr[-3000:]}"
        assert "Traceback" not in stderr, f"{context}\n{stderr[-3000:]}"


@pytest.mark.runs(sqlite=12, postgres=4)
def test_an_upgrade_interrupted_at_random_is_pre_run_or_migrated(engine, seed, fault_engine,
                                                                 references, target, ledger):
    interrupt("upgrade", engine, seed, fault_engine, references, target, ledger)


@pytest.mark.runs(sqlite=6, postgres=2)
def test_a_restore_after_a_failed_check_interrupted_at_random_is_pre_run(engine, seed, fault_engine,
                                                                         references, target, ledger):
    interrupt("failed-check", engine, seed, fault_engine, references, target, ledger)


@pytest.mark.runs(sqlite=6, postgres=2)
def test_a_manual_restore_interrupted_at_random_is_before_or_restored(engine, seed, fault_engine,
                                                                      references, target, ledger):
    interrupt("restore", engine, seed, fault_engine, references, target, ledger)
