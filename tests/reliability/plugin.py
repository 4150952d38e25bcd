"""The fault suite's pytest plugin (loaded by tests/conftest.py, so the controller of an
xdist run has it too): the seeds of the random kills, the soak switch, the `runs`
marker, and the ledger whose totals end the run's report.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from .ledger import Ledger, Tally

LEDGER = pytest.StashKey[Ledger]()
BASE = pytest.StashKey[int]()


def soak() -> int:
    """SAFEGUARD_SOAK=N multiplies the random runs (1 when unset)."""
    raw = os.environ.get("SAFEGUARD_SOAK", "").strip()
    try:
        return max(1, int(raw)) if raw else 1
    except ValueError:
        raise pytest.UsageError(f"SAFEGUARD_SOAK must be a whole number, not {raw!r}") from None


def seeds(config: pytest.Config, name: str, count: int) -> list[int]:
    """The seeds of ``count`` runs of ``name`` (times the soak factor), the same in every
    xdist worker; SAFEGUARD_FAULT_SEED replays one seed alone."""
    replay = os.environ.get("SAFEGUARD_FAULT_SEED", "").strip()
    if replay:
        return [int(replay)]
    base = config.stash[BASE]
    return [int.from_bytes(hashlib.sha256(f"{base}:{name}:{i}".encode()).digest()[:4], "big")
            for i in range(count * soak())]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "runs(sqlite=N, postgres=M): seeded random runs per engine")
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # an xdist worker: the controller chose for the whole run
        config.stash[BASE] = worker["safeguard_fault_base"]
        config.stash[LEDGER] = Ledger(Path(worker["safeguard_ledger"]), worker["workerid"])
        return
    raw = os.environ.get("SAFEGUARD_FAULT_BASE", "").strip()
    config.stash[BASE] = int(raw) if raw else secrets.randbelow(2**31)
    config.stash[LEDGER] = Ledger(Path(tempfile.mkdtemp(prefix="safeguard-ledger-")), "main")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist (controller side): hand each worker the run's seed base and ledger."""
    node.workerinput["safeguard_fault_base"] = node.config.stash[BASE]
    node.workerinput["safeguard_ledger"] = str(node.config.stash[LEDGER].directory)


def pytest_report_header(config: pytest.Config) -> str:
    return (f"fault injection: SAFEGUARD_FAULT_BASE={config.stash[BASE]}, "
            f"soak x{soak()}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``runs(sqlite=N, postgres=M)`` that takes ``engine`` and ``seed``
    gets N seeded runs on SQLite and M on PostgreSQL, each seed in its test id."""
    marker = metafunc.definition.get_closest_marker("runs")
    if marker is None or "seed" not in metafunc.fixturenames:
        return
    name = f"{metafunc.module.__name__}.{metafunc.function.__name__}"
    params = [pytest.param(engine, seed, id=f"{engine}-seed={seed}",
                           marks=[pytest.mark.postgres] if engine == "postgres" else [])
              for engine, count in marker.kwargs.items()
              for seed in seeds(metafunc.config, f"{name}:{engine}", count)]
    metafunc.parametrize(("engine", "seed"), params)


@pytest.fixture
def ledger(request: pytest.FixtureRequest):
    """Record this test's counts: ``ledger(Tally(...), **facts)``; a ``kind`` fact names
    the kind of fault the summary counts it under (else the test's module does)."""
    book = request.config.stash[LEDGER]

    def record(tally: Tally, **facts) -> None:
        book.record(request.node.nodeid, tally, **facts)

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    book = config.stash[LEDGER]
    if not book.entries():
        shutil.rmtree(book.directory, ignore_errors=True)
        return
    total = book.totals()
    terminalreporter.section("fault-injection ledger")
    terminalreporter.write_line(
        f"{total.tests} fault tests: {total.faults} faults injected ({total.interrupts} of "
        f"them SIGINT/SIGTERM; {total.missed} kills or signals came after the process had "
        f"finished), {total.bad_inputs} bad inputs tried, "
        f"{total.refused} operations refused before changing anything, "
        f"{total.restores} restores performed, {total.recoveries} recoveries, "
        f"{total.data_lost} runs lost data")
    for kind, tally in book.by_kind().items():
        terminalreporter.write_line(
            f"  {kind}: {tally.tests} tests, {tally.faults} faults, {tally.refused} refused, "
            f"{tally.data_lost} runs lost data")
    terminalreporter.write_line(f"seed base: SAFEGUARD_FAULT_BASE={config.stash[BASE]}")
    shutil.rmtree(book.directory, ignore_errors=True)
