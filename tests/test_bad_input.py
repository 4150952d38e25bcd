"""Bad input, command by command: each is refused with its exit code and one line on
stderr that names the problem, and nothing changes (the database file's bytes, the
snapshot store, the journal).

tests/test_refusals.py has the first refusal of several of these (an upgrade); here
each bad input is applied to every other command where it matters. The seeded
database is built once for the module and copied for each case.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from typing import Callable

import pytest
from conftest import REPO, SEED_AT, ProjectDir, seed, table_contents

pytestmark = pytest.mark.reliability

#: Every command that reads the configuration, with arguments that work on a good project.
EVERY_COMMAND: dict[str, tuple[str, ...]] = {
    "upgrade": ("upgrade", "head"),
    "downgrade": ("downgrade", "-1"),
    "plan": ("plan",),
    "check": ("check",),
    "current": ("current",),
    "heads": ("heads",),
    "history": ("history",),
    "stamp": ("stamp", "head"),
    "lint": ("lint",),
    "snapshot create": ("snapshot", "create"),
    "snapshot list": ("snapshot", "list"),
    "snapshot show": ("snapshot", "show", "latest"),
    "snapshot verify": ("snapshot", "verify", "latest"),
    "snapshot prune": ("snapshot", "prune"),
    "restore": ("restore", "latest", "--yes"),
    "recover": ("recover",),
    "log": ("log",),
    "schedule": ("schedule", "--once", "--every", "1h"),
}
#: The commands that connect to the database (restore too, but see the empty file).
DATABASE_COMMANDS = ("upgrade", "downgrade", "plan", "check", "current", "stamp",
                     "snapshot create")


# -- the project, built once ------------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> ProjectDir:
    """The example project at the seed revision with demo rows and one snapshot."""
    root = tmp_path_factory.mktemp("bad-input") / "project"
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    built = ProjectDir(root)
    with pytest.MonkeyPatch.context() as mp:  # the CLI sets DATABASE_URL in-process
        mp.setenv("DATABASE_URL", built.url)
        built.cli("-q", "upgrade", SEED_AT, "--create", "--policy", "never")
        seed(built)
    return built


@pytest.fixture
def case(template, tmp_path) -> ProjectDir:
    """A private copy of the template project, database and store included."""
    root = tmp_path / "project"
    shutil.copytree(template.root, root, ignore=shutil.ignore_patterns("__pycache__"))
    copy = ProjectDir(root)
    copy.cli("-q", "snapshot", "create")  # a snapshot of *this* database, for `latest`
    return copy


# -- what "nothing changed" means ----------------------------------------------------------

def state(project: ProjectDir) -> dict[str, bytes | None]:
    """The database file's bytes and every file of the store but the lock files (a
    lock file is an empty rendezvous point whenever nobody holds it)."""
    files: dict[str, bytes | None] = {
        name: path.read_bytes() if path.exists() else None
        for name, path in (("database", project.db),
                           ("database-wal", project.db.with_name(project.db.name + "-wal")))}
    if project.store.exists():
        for path in sorted(project.store.rglob("*")):
            relative = path.relative_to(project.store)
            if relative.parts[0] != "locks":
                files[str(relative)] = path.read_bytes() if path.is_file() else b"<directory>"
    return files


def error_line(stderr: str) -> str:
    """The one line a refusal prints; anything more (a traceback, log lines) fails."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("safeguard: error: "), lines[0]
    return lines[0]


def refusal_problems(project: ProjectDir, args: tuple[str, ...], code: int,
                     says: tuple[str, ...]) -> list[str]:
    """Run one refused command in-process; what is wrong with how it was refused."""
    before = state(project)
    result = project.cli(*args, expect=None)
    where = f"safeguard {' '.join(args)}"
    if result.exit_code != code:
        return [f"{where}: exit {result.exit_code}, expected {code}\n{result.stderr}"]
    try:
        line = error_line(result.stderr)
    except AssertionError as exc:
        return [f"{where}: {exc}"]
    problems = [f"{where}: {line!r} does not say {s!r}" for s in says if s not in line]
    if result.stdout:
        problems.append(f"{where}: printed on stdout: {result.stdout!r}")
    after = state(project)
    if after != before:
        differ = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        problems.append(f"{where}: changed {', '.join(differ)}")
    return problems


# -- the bad inputs -------------------------------------------------------------------------

Arrange = Callable[[ProjectDir], None]


@dataclass(frozen=True)
class BadInput:
    """One way of getting it wrong, and how every command it concerns must answer."""

    arrange: Arrange
    commands: tuple[tuple[str, ...], ...]
    code: int
    says: tuple[str, ...] = ()
    #: Extra global options placed before the command (an overriding -c or --url).
    options: tuple[str, ...] = field(default=())


def every(*names: str) -> tuple[tuple[str, ...], ...]:
    return tuple(EVERY_COMMAND[name] for name in (names or EVERY_COMMAND))


def rewrite_ini(old: str, new: str) -> Arrange:
    def arrange(project: ProjectDir) -> None:
        text = project.ini.read_text()
        assert old in text, old
        project.ini.write_text(text.replace(old, new, 1))
    return arrange


def write_ini(data: bytes) -> Arrange:
    def arrange(project: ProjectDir) -> None:
        project.ini.write_bytes(data)
    return arrange


def configure(**keys: str) -> Arrange:
    def arrange(project: ProjectDir) -> None:
        project.configure(**keys)
    return arrange


def nothing(project: ProjectDir) -> None:
    pass


def branch(project: ProjectDir) -> None:
    """A second head off the seed revision."""
    project.add_revision("c0ffee000001", SEED_AT, "pass", doc="a branch")


def stamp_unknown(project: ProjectDir) -> None:
    with sqlite3.connect(project.db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'abcdef123456'")
    conn.close()


def truncate(project: ProjectDir) -> None:
    project.db.write_bytes(b"")


def scribble(project: ProjectDir) -> None:
    project.db.write_bytes(b"this is not a SQLite database, it is a text file\n" * 100)


def manifest(edit: Callable[[dict], object]) -> Arrange:
    """Rewrite the manifest of the latest snapshot: ``edit`` returns the new document
    (a dict, any other JSON value, or bytes written as they are)."""
    def arrange(project: ProjectDir) -> None:
        (path,) = (project.store / "snapshots").glob("*/manifest.json")
        new = edit(json.loads(path.read_text()))
        path.write_bytes(new if isinstance(new, bytes) else json.dumps(new).encode())
    return arrange


def without(*keys: str) -> Callable[[dict], dict]:
    return lambda m: {k: v for k, v in m.items() if k not in keys}


def changed(**values: object) -> Callable[[dict], dict]:
    return lambda m: {**m, **values}


SNAPSHOT_COMMANDS = (("snapshot", "show", "{id}"), ("snapshot", "verify", "{id}"),
                     ("restore", "{id}", "--yes"), ("snapshot", "list"), ("snapshot", "prune"))

BAD_INPUTS: dict[str, BadInput] = {
    # -- alembic.ini that does not parse: every command reads it first
    "ini without a section header": BadInput(
        write_ini(b"script_location = alembic\n[alembic]\n"), every(), 2,
        ("alembic.ini", "cannot parse", "no section headers")),
    "ini with a section twice": BadInput(
        rewrite_ini("[safeguard]\n", "[alembic]\nx = 1\n[safeguard]\n"), every(), 2,
        ("alembic.ini", "cannot parse", "'alembic' already exists")),
    "ini that is not UTF-8": BadInput(
        write_ini(b"[alembic]\nscript_location = \xff\xfe/alembic\n"), every(), 2,
        ("alembic.ini", "UTF-8")),
    "ini whose script_location interpolates nothing": BadInput(
        rewrite_ini("%(here)s/alembic", "%(nowhere)s/alembic"),
        every("upgrade", "downgrade", "plan", "check", "current", "heads", "history", "stamp",
              "lint", "snapshot create", "snapshot verify", "restore", "recover"), 2,
        ("alembic.ini", "nowhere")),
    "ini whose [safeguard] interpolates nothing": BadInput(
        rewrite_ini("store = .safeguard", "store = %(nowhere)s/store"), every(), 2,
        ("alembic.ini", "[safeguard]", "nowhere")),
    "ini without script_location": BadInput(
        rewrite_ini("script_location = %(here)s/alembic", "# no script_location"),
        every("upgrade", "downgrade", "plan", "check", "current", "heads", "history", "stamp",
              "lint", "snapshot create", "restore", "recover"), 2,
        ("alembic.ini", "script_location")),
    # -- [safeguard] keys: unknown, or of the wrong type; each named in the message
    "unknown key": BadInput(configure(polcy="always"), every(), 2, ("'polcy'", "[safeguard]")),
    # Read as a path, an empty value is the project directory itself: never a store.
    "store left empty": BadInput(rewrite_ini("store = .safeguard", "store ="), every(), 2,
                                 ("alembic.ini", "store", "empty")),
    "unknown prefixed key": BadInput(configure(sql_checks__x="SELECT 1"), every(), 2,
                                     ("'sql_checks.x'",)),
    "timeout that is a word": BadInput(configure(lock_timeout="soon"), every(), 2,
                                       ("lock_timeout", "'soon'", "not a valid number")),
    "timeout that is not a number": BadInput(configure(lock_timeout="nan"), every(), 2,
                                             ("lock_timeout",)),
    "timeout that never ends": BadInput(configure(check_timeout="inf"), every(), 2,
                                        ("check_timeout",)),
    "count that is a fraction": BadInput(configure(keep_last="2.5"), every(), 2,
                                         ("keep_last", "'2.5'")),
    "negative keep_last": BadInput(configure(keep_last="-1"), every(), 2,
                                   ("keep_last", "negative")),
    "negative max_age_days": BadInput(configure(max_age_days="-3"), every(), 2,
                                      ("max_age_days", "negative")),
    "no pg_jobs": BadInput(configure(pg_jobs="0"), every(), 2, ("pg_jobs", "at least 1")),
    "policy out of choice": BadInput(configure(policy="sometimes"), every(), 2,
                                     ("policy", "'sometimes'")),
    "integrity out of choice": BadInput(configure(integrity="fast"), every(), 2,
                                        ("integrity", "'fast'")),
    "compression level out of range": BadInput(configure(compression_level="99"), every(), 2,
                                               ("compression_level",)),
    # -- -c/--config that is not a file
    "--config that is a directory": BadInput(
        nothing, every(), 2, ("is a directory",), options=("-c", "{root}")),
    "--config that does not exist": BadInput(
        nothing, every(), 2, ("config file not found", "missing.ini"),
        options=("-c", "{root}/missing.ini")),
    # -- revisions
    "revision that does not exist": BadInput(
        nothing, (("downgrade", "deadbeef0000"), ("plan", "deadbeef0000"),
                  ("plan", "--downgrade", "deadbeef0000"), ("stamp", "deadbeef0000"),
                  ("history", "-r", "deadbeef0000:")), 3, ("deadbeef0000",)),
    "revision prefix that matches nothing": BadInput(
        nothing, (("upgrade", "ffff"), ("downgrade", "ffff"), ("plan", "ffff"), ("stamp", "ffff")),
        3, ("'ffff'",)),
    "ambiguous revision prefix": BadInput(
        nothing, (("upgrade", "7"), ("downgrade", "7"), ("plan", "7"), ("stamp", "7"),
                  ("history", "-r", "7:")), 3, ("Multiple revisions start with '7'",)),
    "empty revision": BadInput(
        nothing, (("upgrade", ""), ("downgrade", ""), ("plan", ""), ("stamp", "")), 3,
        ("empty revision",)),
    "several heads": BadInput(
        branch, (("upgrade", "head"), ("plan",), ("plan", "head"), ("stamp", "head")), 3,
        ("heads",)),
    "database at a revision the scripts do not know": BadInput(
        stamp_unknown, (("plan",), ("downgrade", "-1"), ("current",), ("stamp", "head")), 3,
        ("abcdef123456", "do not know")),
    # -- snapshot ids that try to name a path (`snapshot show` is in test_store.py)
    "snapshot id with ../": BadInput(
        nothing, tuple((*cmd, bad) if cmd[0] == "snapshot" else (cmd[0], bad, "--yes")
                       for cmd in (("snapshot", "verify"), ("restore",))
                       for bad in ("../x", "..", "/etc/passwd", "20261125T201500Z-3f9a1c/../../x")),
        2, ("invalid snapshot id",)),
    # -- manifests
    "manifest that is not JSON": BadInput(
        manifest(lambda m: b'{"id": "truncated'), SNAPSHOT_COMMANDS, 10,
        ("manifest", "{id}", "not JSON")),
    "manifest that is a JSON list": BadInput(
        manifest(lambda m: [m]), SNAPSHOT_COMMANDS, 10, ("manifest", "{id}", "not a JSON object")),
    "manifest missing fields": BadInput(
        manifest(without("sha256", "files")), SNAPSHOT_COMMANDS, 10,
        ("manifest", "{id}", "missing", "sha256", "files")),
    "manifest with fields of the wrong type": BadInput(
        manifest(changed(size="big", row_counts=None)), SNAPSHOT_COMMANDS, 10,
        ("manifest", "{id}", "size")),
    "manifest with a date that is not one": BadInput(
        manifest(changed(created_at="yesterday")), SNAPSHOT_COMMANDS, 10,
        ("manifest", "{id}", "created_at")),
    "manifest naming a file outside its snapshot": BadInput(
        manifest(lambda m: {**m, "files": {"../../../alembic.ini": m["sha256"]}}),
        SNAPSHOT_COMMANDS, 10, ("manifest", "{id}", "../../../alembic.ini")),
    "manifest of another snapshot": BadInput(
        manifest(changed(id="20200101T000000Z-000000")), SNAPSHOT_COMMANDS, 10,
        ("manifest", "{id}", "20200101T000000Z-000000")),
    "snapshot of another engine": BadInput(
        manifest(changed(engine="postgresql")),
        (("snapshot", "verify", "{id}"), ("restore", "{id}", "--yes")), 10,
        ("{id}", "postgresql", "sqlite")),
    # -- the database file
    "empty database file": BadInput(
        truncate, every(*DATABASE_COMMANDS), 3, ("database file is empty", "--create")),
    "file that is not SQLite": BadInput(
        scribble, every(*DATABASE_COMMANDS, "restore", "recover"), 3, ("file is not a database",)),
    "SQLite URL with a user and password": BadInput(
        nothing, every(*DATABASE_COMMANDS), 2, ("invalid database URL", "sqlite://app:***@"),
        options=("--url", "sqlite://app:hunter2@/{root}/poolula.db")),
    "URL of an unsupported dialect": BadInput(
        nothing, every(*DATABASE_COMMANDS, "restore", "snapshot verify", "snapshot prune",
                       "recover"), 3,
        ("no backend for 'mssql'",), options=("--url", "mssql://app@db.example/poolula")),
}


def _fill(text: str, project: ProjectDir, snapshot_id: str) -> str:
    return text.replace("{id}", snapshot_id).replace("{root}", str(project.root))


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_refused_and_changes_nothing(case, name):
    bad = BAD_INPUTS[name]
    (snapshot_id,) = [p.name for p in (case.store / "snapshots").iterdir()]
    bad.arrange(case)
    problems = []
    for command in bad.commands:
        args = tuple(_fill(a, case, snapshot_id) for a in (*bad.options, *command))
        says = tuple(_fill(s, case, snapshot_id) for s in bad.says)
        problems += refusal_problems(case, args, bad.code, says)
    assert not problems, "\n".join(problems)


# -- the same through a real process: no traceback escapes, whatever the input -----------

@pytest.mark.parametrize("name, command", [
    ("ini whose script_location interpolates nothing", ("upgrade", "head")),
    ("ini that is not UTF-8", ("snapshot", "create")),
    ("manifest that is not JSON", ("restore", "{id}", "--yes")),
])
def test_bad_input_through_a_real_process(case, name, command):
    bad = BAD_INPUTS[name]
    (snapshot_id,) = [p.name for p in (case.store / "snapshots").iterdir()]
    bad.arrange(case)
    before = state(case)
    done = case.run(*(_fill(a, case, snapshot_id) for a in (*bad.options, *command)))
    assert done.returncode == bad.code, done.stderr
    line = error_line(done.stderr)
    assert all(_fill(s, case, snapshot_id) in line for s in bad.says), line
    assert done.stdout == ""
    assert state(case) == before


def test_an_empty_database_file_is_a_new_database_with_create(case):
    """--create is the way to start from an empty file, as from a missing one."""
    truncate(case)
    case.cli("-q", "upgrade", SEED_AT, "--create", "--policy", "never")
    assert case.cli("current").stdout.strip() == SEED_AT


def test_a_database_truncated_to_nothing_can_be_restored(case):
    """An empty file is refused everywhere but where it is the very reason to act."""
    rows = table_contents(case.db)
    truncate(case)
    case.cli("-q", "restore", "latest", "--yes")
    assert table_contents(case.db) == rows


def test_a_deleted_database_file_can_be_restored(case):
    """No file at all is what a restore is for too (a new machine, a deleted file): it
    needs no --create, which `restore` does not have."""
    rows = table_contents(case.db)
    case.db.unlink()
    dry = case.cli("restore", "latest", "--dry-run")
    assert "create the database file" in dry.stderr and not case.db.exists()
    case.cli("-q", "restore", "latest", "--yes")
    assert table_contents(case.db) == rows


def test_a_restore_refused_onto_a_missing_file_leaves_no_file(case):
    (snapshot_id,) = [p.name for p in (case.store / "snapshots").iterdir()]
    (payload,) = (case.store / "snapshots" / snapshot_id).glob("database.sqlite*")
    payload.write_bytes(payload.read_bytes()[:4096])  # cut short: damaged
    case.db.unlink()
    result = case.cli("restore", snapshot_id, "--yes", expect=10)
    assert "damaged" in error_line(result.stderr)
    assert not case.db.exists()
