"""The three runs the random kills interrupt, and their references.

    upgrade       `upgrade head` from the seed revision: pre-run state or migrated state
    failed-check  the same with a last revision whose health check fails, so the run
                  ends by restoring the snapshot: only the pre-run state is right
    restore       `restore ID --yes` of a snapshot taken at the seed revision, on a
                  database at head: the state before (head) or the snapshot's
    transaction   (PostgreSQL) `upgrade head` from head through one safe revision whose
                  undo is the run's transaction (no snapshot): head, or head plus it

A scenario's references are the two states it may end in, read from the seeded
templates, and the timeline of one uninterrupted run (when each journal line appeared),
measured once per test run and checked against those states.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import HEAD, SEED_AT

from .engines import Engine
from .processes import POLL_S, file_size, start

# A column the models do not have: the drift check fails after the migration commits,
# on either engine.
FAILING_CHECK = """\
op.add_column("properties", sa.Column("zoning_code", sa.Text()))
"""
FAILING_REVISION = "b2c3d4e5f6a1"

# Safe, slow enough for kills to land inside the run's open transaction, and checked
# inside it (the smoke check, which needs its own connection, is off).
IN_TRANSACTION = """\
op.create_table("ledger_notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text()))
op.execute("INSERT INTO ledger_notes (body) SELECT 'note ' || g FROM generate_series(1, 50) g")
op.execute("SELECT pg_sleep(0.4)")
"""
IN_TRANSACTION_REVISION = "c3d4e5f6a1b2"


@dataclass(frozen=True)
class Scenario:
    """One kind of run to interrupt."""

    name: str
    kinds: tuple[str, ...]  # the journal operations it writes
    exit_code: int  # of an uninterrupted run
    reaches_post: bool  # whether "post" is a state it may end in


SCENARIOS = {
    "upgrade": Scenario("upgrade", ("upgrade",), 0, True),
    "failed-check": Scenario("failed-check", ("upgrade",), 7, False),
    "restore": Scenario("restore", ("restore",), 0, True),
    "transaction": Scenario("transaction", ("upgrade",), 0, True),
}


def prepare(scenario: Scenario, engine: Engine, project) -> tuple[Any, tuple[str, ...]]:
    """A fresh database for one run; the project pointed at it and the CLI arguments."""
    if scenario.name == "transaction":
        project = engine.place(project, HEAD)
        project.add_revision(IN_TRANSACTION_REVISION, HEAD, IN_TRANSACTION)
        project.configure(smoke_check="", metadata="")
        return project, ("upgrade", "head")
    project = engine.place(project, SEED_AT)
    if scenario.name == "failed-check":
        project.add_revision(FAILING_REVISION, HEAD, FAILING_CHECK)
    if scenario.name == "restore":
        snapshot = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
        engine.replace(project, HEAD)
        return project, ("restore", snapshot, "--yes")
    return project, ("upgrade", "head")


@dataclass(frozen=True)
class Timeline:
    """When each journal line of an uninterrupted run appeared, and when the run ended,
    in seconds from its start."""

    lines: tuple[float, ...]
    end: float

    def instant(self, fraction: float, region: str) -> tuple[int, float]:
        """The instant ``fraction`` of the way through a region of the run, as (journal
        lines to wait for, seconds after the last of them). Regions: ``early``, start-up
        before the first line; ``active``, from the first line to the last; ``late``,
        from the last line to the exit. Anchored on journal lines, a kill lands in the
        step it was aimed at even when the machine runs slower or faster than measured."""
        if region == "early" or not self.lines:
            return 0, fraction * (self.lines[0] if self.lines else self.end)
        if region == "late":
            return len(self.lines), fraction * (self.end - self.lines[-1])
        at = self.lines[0] + fraction * (self.lines[-1] - self.lines[0])
        seen = max(k for k, t in enumerate(self.lines) if t <= at) + 1
        return seen, at - self.lines[seen - 1]

    def to_dict(self) -> dict[str, Any]:
        return {"lines": list(self.lines), "end": self.end}


@dataclass(frozen=True)
class References:
    """The states a run may leave, and its timeline."""

    pre: dict[str, Any]
    post: dict[str, Any] | None
    timeline: Timeline

    def named(self) -> dict[str, dict[str, Any] | None]:
        return {"pre": self.pre, "post": self.post}


def journal_of(project) -> Path:
    return project.store / "journal.jsonl"


def lines_after(path: Path, offset: int) -> int:
    """Complete lines appended to ``path`` beyond ``offset`` bytes."""
    try:
        with open(path, "rb") as reader:
            reader.seek(offset)
            return reader.read().count(b"\n")
    except FileNotFoundError:
        return 0


def reference_states(scenario: Scenario, engine: Engine, project) -> tuple[dict, dict | None]:
    """The pre-run and finished states of a scenario, read from the seeded templates
    (the transaction scenario's finished state: from one run of it)."""
    if scenario.name == "transaction":
        placed = engine.place(project, HEAD)
        try:
            pre = engine.state(placed)
        finally:
            engine.discard(placed)
        placed, args = prepare(scenario, engine, project)
        try:
            done = placed.run(*args)
            assert done.returncode == 0, done.stderr
            return pre, engine.state(placed)
        finally:
            engine.discard(placed)
    before, after = {"restore": (HEAD, SEED_AT)}.get(scenario.name, (SEED_AT, HEAD))
    states = []
    for revision in (before, after):
        placed = engine.place(project, revision)
        try:
            states.append(engine.state(placed))
        finally:
            engine.discard(placed)
    return states[0], states[1] if scenario.reaches_post else None


def measure(scenario: Scenario, engine: Engine, project, pre: dict, post: dict | None) -> Timeline:
    """Run the scenario to the end once, checking it ends as the references say, and
    note when each journal line appeared."""
    project, args = prepare(scenario, engine, project)
    try:
        journal = journal_of(project)
        offset = file_size(journal)
        assert engine.state(project) == pre, f"{scenario.name}: not the pre-run state at the start"
        run = start(project, *args, env=engine.env)
        lines: list[float] = []
        while run.alive():
            seen = lines_after(journal, offset)
            lines += [time.monotonic() - run.started] * (seen - len(lines))
            time.sleep(POLL_S)
        end = time.monotonic() - run.started
        seen = lines_after(journal, offset)
        lines += [end] * (seen - len(lines))
        code = run.wait()
        assert code == scenario.exit_code, f"{scenario.name}: exit {code}\n{run.stderr()[-3000:]}"
        assert engine.state(project) == (post if scenario.reaches_post else pre), \
            f"{scenario.name}: an uninterrupted run did not end in the expected state"
        return Timeline(tuple(lines), end)
    finally:
        engine.discard(project)
