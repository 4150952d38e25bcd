"""A restore beside the live data, or a diff's copy, killed (SIGKILL) at each step of
making it, then `safeguard recover`: nothing of the copy is left (no schema, database,
file, record or scratch database), the journal has no open operation, and the live
tables hold exactly what they held before (a copy never touches them)."""

from __future__ import annotations

import json

import pytest
from conftest import HEAD
from support.beside import contents, leftovers

from .ledger import Tally

pytestmark = pytest.mark.reliability

COMMON = ["journal:beside:started", "journal:beside:done", "beside:recorded"]
POINTS = (
    [pytest.param("sqlite", p, id=f"sqlite-{p}") for p in COMMON]
    + [pytest.param("postgresql", p, id=f"postgresql-{p}", marks=pytest.mark.postgres)
       for p in COMMON + ["postgres:beside:scratch", "postgres:beside:dumped",
                          "postgres:beside:restored"]]
    + [pytest.param("mysql", p, id=f"mysql-{p}", marks=pytest.mark.mysql) for p in COMMON]
)
#: Where a diff can be killed: its copy made, or being dropped.
DIFF_POINTS = ["journal:beside:done", "journal:drop:started"]


def at_head(request, engine: str):
    """The example project on a seeded database of ``engine`` at head, and a snapshot."""
    if engine == "postgresql":
        project = request.getfixturevalue("pg_at_head")
    else:
        project = request.getfixturevalue("seeded" if engine == "sqlite" else "mysql_seeded")
        project.cli("upgrade", HEAD, "--policy", "never")
    snapshot = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
    return project, snapshot


@pytest.mark.parametrize(("engine", "point"), POINTS)
def test_a_beside_restore_killed_leaves_nothing_after_recover(engine, point, request, ledger):
    project, snapshot = at_head(request, engine)
    before = contents(project.url)
    killed = project.run("-q", "restore", snapshot, "--beside", env={"SAFEGUARD_FAULT": point})
    recovered = project.cli("--json", "recover")
    after = contents(project.url)
    ledger(Tally(tests=1, faults=int(killed.returncode == -9), recoveries=1,
                 data_lost=int(after != before)), point=point)

    assert killed.returncode == -9, killed.stderr
    assert [r["kind"] for r in json.loads(recovered.stdout)["recovered"]] == ["beside"]
    assert leftovers(project) == []
    assert after == before
    # And the same restore now goes through.
    project.cli("restore", snapshot, "--beside")
    project.cli("restore", snapshot, "--drop-beside")
    assert leftovers(project) == []


@pytest.mark.parametrize("engine", [pytest.param("sqlite"),
                                    pytest.param("postgresql", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("point", DIFF_POINTS)
def test_a_diff_killed_leaves_nothing_after_recover(engine, point, request, ledger):
    project, snapshot = at_head(request, engine)
    before = contents(project.url)
    killed = project.run("-q", "diff", snapshot, env={"SAFEGUARD_FAULT": point})
    project.cli("recover")
    after = contents(project.url)
    ledger(Tally(tests=1, faults=int(killed.returncode == -9), recoveries=1,
                 data_lost=int(after != before)), point=point)

    assert killed.returncode == -9, killed.stderr
    assert leftovers(project) == []
    assert after == before
