"""Fixtures of the fault suite: the engines with their seeded templates, each scenario's
references, and the databases of one test."""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .engines import Engine, PostgreSQL, SQLite, copy_project
from .scenarios import SCENARIOS, References, Timeline, measure, prepare, reference_states


@contextmanager
def cli_environment(env: dict[str, str]) -> Iterator[None]:
    """The environment in-process CLI calls need outside a test's own monkeypatch."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", "sqlite:///./poolula.db")  # in-process runs overwrite it
        for key, value in env.items():
            mp.setenv(key, value)
        yield


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory) -> SQLite:
    with cli_environment(SQLite.env):
        return SQLite(tmp_path_factory.mktemp("sqlite-engine"))


@pytest.fixture(scope="session")
def pg_engine(pg_server, pg_seed_templates) -> PostgreSQL:
    return PostgreSQL(pg_server, pg_seed_templates)


@pytest.fixture
def fault_engine(request, engine: str, monkeypatch) -> Engine:
    """The engine a parametrized test names ("sqlite" or "postgres"), with the
    environment its in-process CLI calls need."""
    found = request.getfixturevalue("pg_engine" if engine == "postgres" else "sqlite_engine")
    for key, value in found.env.items():
        monkeypatch.setenv(key, value)
    return found


def run_directory(tmp_path_factory) -> Path:
    """A directory every xdist worker of this run shares (the session's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()`` once per run, whichever worker asks first; the others read it."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            path.write_text(json.dumps(compute()))
        return json.loads(path.read_text())


@pytest.fixture(scope="session")
def references(tmp_path_factory) -> Callable[[str, Engine], References]:
    """``references(scenario, engine)``: the states from the templates, and the timeline
    of one uninterrupted run, measured once per run (and checked against the states)."""
    shared = run_directory(tmp_path_factory)
    known: dict[tuple[str, str], References] = {}

    def get(name: str, engine: Engine) -> References:
        if (name, engine.name) not in known:
            scenario = SCENARIOS[name]
            workdir = tmp_path_factory.mktemp(f"reference-{engine.name}-{name}")
            with cli_environment(engine.env):
                pre, post = reference_states(scenario, engine, copy_project(workdir / "states"))
                timeline = once(shared / f"timeline-{engine.name}-{name}.json", lambda: measure(
                    scenario, engine, copy_project(workdir / "measured"), pre, post).to_dict())
            known[(name, engine.name)] = References(
                pre, post, Timeline(tuple(timeline["lines"]), timeline["end"]))
        return known[(name, engine.name)]

    return get


@pytest.fixture
def target(fault_engine, project) -> Iterator[Callable[[str], tuple[Any, tuple[str, ...]]]]:
    """``target(scenario)``: this test's fresh database for a scenario, as (project, CLI
    arguments); dropped after the test."""
    made = []

    def make(scenario: str):
        placed, args = prepare(SCENARIOS[scenario], fault_engine, project)
        made.append(placed)
        return placed, args

    yield make
    for placed in made:
        fault_engine.discard(placed)
