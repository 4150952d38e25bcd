"""A process killed (SIGKILL) at each step of a guarded upgrade and of a restore:
after `safeguard recover` the database is either the pre-run state or the finished
state, never a mix, and the journal says which."""

from __future__ import annotations

import json
import shutil
import signal

import pytest
from conftest import HEAD, SEED_AT, seed, table_contents, version_of

from safeguard.journal import Journal

# The journal's own lines, then points inside steps. `#n` is the n-th time.
UPGRADE_POINTS = [
    "journal:snapshot:started",
    "sqlite:snapshot:copied",
    "store:before-manifest",
    "journal:snapshot:done",
    "journal:apply:started#1",
    "journal:apply:done#1",
    "journal:apply:started#2",
    "journal:apply:done#3",
    "journal:apply:started#5",
    "journal:apply:done#5",
    "journal:check:started",
    "journal:check:done",
]
# The same upgrade with a health check that fails: the kill lands inside the restore.
FAILED_UPGRADE_POINTS = [
    "journal:restore:started",
    "sqlite:restore:before-swap",
    "sqlite:restore:swapped",
    "journal:restore:done",
]
RESTORE_POINTS = [
    "journal:safety-snapshot:keeping",
    "journal:restore:started",
    "sqlite:restore:before-swap",
    "sqlite:restore:kept",
    "sqlite:restore:swapped",
    "journal:restore:done",
    "journal:safety-snapshot:started",
    "store:before-manifest",
    "journal:safety-snapshot:done",
    "journal:check:started",
    "journal:check:done",
]

BREAKS_A_FOREIGN_KEY = """\
op.execute("UPDATE documents SET property_id = 'ffffffffffffffffffffffffffffffff' "
           "WHERE id = (SELECT id FROM documents ORDER BY id LIMIT 1)")
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A seeded database at SEED_AT, and the contents it has before and after upgrading."""
    from conftest import REPO, ProjectDir

    root = tmp_path_factory.mktemp("template")
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    project = ProjectDir(root)
    assert project.run("upgrade", SEED_AT, "--create", "--policy", "never").returncode == 0
    seed(project)
    seeded_db = root / "seeded.db"
    shutil.copy(project.db, seeded_db)
    assert project.run("upgrade", "head").returncode == 0
    return {"db": seeded_db, "pre": table_contents(seeded_db), "post": table_contents(project.db)}


def _fresh(project, template):
    shutil.copy(template["db"], project.db)
    return project


def _killed(project, *args, point, env=None):
    result = project.run(*args, env={"SAFEGUARD_FAULT": point, **(env or {})})
    assert result.returncode == -signal.SIGKILL, (point, result.returncode, result.stderr[-2000:])


def _recover(project):
    journal = Journal(project.store)
    assert len(journal.unfinished()) == 1
    result = project.run("--json", "recover")
    assert result.returncode == 0, result.stderr
    (recovered,) = json.loads(result.stdout)["recovered"]
    assert journal.unfinished() == []
    return recovered


def _no_leftovers(project):
    snapshots = project.store / "snapshots"
    assert not [p.name for p in snapshots.iterdir() if p.name.startswith(".tmp-")]
    assert all((p / "manifest.json").is_file() for p in snapshots.iterdir())
    assert not list(project.root.glob(".poolula.db.safeguard-restore"))


@pytest.mark.slow
@pytest.mark.parametrize("point", UPGRADE_POINTS)
def test_killed_during_a_guarded_upgrade(project, template, point):
    _fresh(project, template)
    _killed(project, "upgrade", "head", point=point)
    recovered = _recover(project)
    contents = table_contents(project.db)
    if recovered["action"] == "restored":
        assert contents == template["pre"] and version_of(project.db) == [SEED_AT]
    elif point == "journal:check:done":
        assert recovered["action"] == "confirmed"
        assert contents == template["post"] and version_of(project.db) == [HEAD]
    else:  # nothing had been changed yet
        assert recovered["action"] == "confirmed"
        assert contents == template["pre"] and version_of(project.db) == [SEED_AT]
    _no_leftovers(project)


def test_until_recovered_changes_are_refused_then_the_upgrade_completes(project, template):
    _fresh(project, template)
    _killed(project, "upgrade", "head", point="journal:apply:done#2")
    for args in (("upgrade", "head"), ("snapshot", "create"), ("stamp", HEAD)):
        refused = project.run(*args)
        assert refused.returncode == 9 and "safeguard recover" in refused.stderr
    assert _recover(project)["action"] == "restored"
    assert project.run("upgrade", "head").returncode == 0
    assert table_contents(project.db) == template["post"]


@pytest.mark.slow
@pytest.mark.parametrize("point", FAILED_UPGRADE_POINTS)
def test_killed_while_restoring_after_a_failed_check(project, template, point):
    _fresh(project, template)
    project.add_revision("b2c3d4e5f6a1", HEAD, BREAKS_A_FOREIGN_KEY)
    _killed(project, "upgrade", "head", point=point)
    recovered = _recover(project)
    assert recovered["action"] == "restored"
    assert table_contents(project.db) == template["pre"]
    assert version_of(project.db) == [SEED_AT]
    _no_leftovers(project)


@pytest.mark.slow
@pytest.mark.parametrize("point", RESTORE_POINTS)
def test_killed_during_a_manual_restore(project, template, point):
    _fresh(project, template)
    snap = json.loads(project.run("--json", "snapshot", "create").stdout)["id"]
    assert project.run("upgrade", "head").returncode == 0
    _killed(project, "restore", snap, "--yes", point=point)
    recovered = _recover(project)
    contents = table_contents(project.db)
    if recovered["action"] == "restored":  # the restore was completed
        assert contents == template["pre"] and version_of(project.db) == [SEED_AT]
    else:  # the restore had not touched the database yet
        assert contents == template["post"] and version_of(project.db) == [HEAD]
    _no_leftovers(project)


def test_abandon_closes_an_operation_recovery_cannot_finish_and_touches_nothing(project, template):
    """The snapshot recovery needs is damaged: recover refuses, and --abandon (with
    --yes) is the way out, leaving the database exactly as the crash left it."""
    _fresh(project, template)
    _killed(project, "upgrade", "head", point="journal:apply:done#2")
    (snapshot,) = (project.store / "snapshots").iterdir()
    payload = snapshot / "database.sqlite"
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0xFF
    payload.write_bytes(bytes(data))
    crashed = project.db.read_bytes()

    refused = project.run("recover")  # the damaged snapshot is refused, nothing replaced
    assert refused.returncode in (8, 10)
    assert "does not hold the bytes its manifest describes" in refused.stderr
    assert project.db.read_bytes() == crashed
    unconfirmed = project.run("recover", "--abandon")
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    assert len(Journal(project.store).unfinished()) == 1

    result = project.run("--json", "recover", "--abandon", "--yes")

    assert result.returncode == 0, result.stderr
    (abandoned,) = json.loads(result.stdout)["recovered"]
    assert abandoned["action"] == "abandoned"
    assert project.db.read_bytes() == crashed
    assert Journal(project.store).unfinished() == []
    assert project.run("snapshot", "create").returncode == 0  # no longer refused (exit 9)
