"""The disk fills up while a snapshot is being written: by a file-size limit on the
process (RLIMIT_FSIZE, which pg_dump inherits), and by a small tmpfs store that another
process fills at a chosen moment.

Either way the snapshot fails, the migration never starts, the database is untouched
(every row, the schema, the revision; for SQLite every byte), no partial snapshot is
left, and the error is one clear line.
"""

from __future__ import annotations

import hashlib
import json
import resource
import signal
from typing import Callable

import pytest

from safeguard.journal import Journal
from safeguard.store import SnapshotStore

from .ledger import Tally
from .mounts import fill, tmpfs
from .processes import resume, start, wait_stopped
from .scenarios import journal_of
from .states import last_operation, settle, store_leftovers

pytestmark = pytest.mark.reliability

PG = pytest.mark.postgres
MIB = 1024 * 1024
PAGE = 4096


def file_size_limit(limit: int) -> Callable[[], None]:
    """A preexec_fn: writes beyond ``limit`` bytes fail with EFBIG (SIGXFSZ ignored, as
    a daemon would, so the write returns the error instead of killing the process)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def fingerprint(engine, project) -> dict:
    """The database's state, and for a file its exact bytes."""
    found = {"state": engine.state(project)}
    if engine.name == "sqlite":
        found["sha256"] = hashlib.sha256(project.db.read_bytes()).hexdigest()
    return found


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    return lines[0]


def assert_nothing_migrated(engine, project, before: dict) -> None:
    """The failed snapshot left no trace: database as it was, no snapshot, the
    operation closed as aborted before any revision ran."""
    assert fingerprint(engine, project) == before, "the database changed"
    assert SnapshotStore(project.store).list() == []
    assert store_leftovers(project) == []
    op = last_operation(project, ("upgrade",))
    assert op is not None and not any(e.get("step") == "apply" for e in op.steps)


@pytest.mark.parametrize(("engine", "limit"), [
    pytest.param("sqlite", 64 * 1024, id="sqlite"),
    pytest.param("postgres", 8 * 1024, id="postgres", marks=PG),
])
def test_a_file_size_limit_fails_the_snapshot_and_nothing_is_migrated(engine, limit, fault_engine,
                                                                      target, ledger):
    project, args = target("upgrade")
    before = fingerprint(fault_engine, project)
    run = start(project, "-q", *args, env=fault_engine.env, preexec_fn=file_size_limit(limit))
    code = run.wait()
    line = one_line(run.stderr())

    settled = settle(project)
    ledger(Tally(tests=1, faults=1, recoveries=settled.recoveries,
                 data_lost=int(fingerprint(fault_engine, project)["state"] != before["state"])))
    assert code == 5, run.stderr()
    assert "File too large" in line or "File size limit exceeded" in line, line
    assert_nothing_migrated(fault_engine, project, before)
    assert last_operation(project, ("upgrade",)).end["outcome"] == "aborted"
    assert settled.recoveries == 0


@pytest.mark.parametrize(("engine", "point", "size"), [
    # Another process takes the last free bytes just after the free-space check...
    pytest.param("sqlite", "store:space-checked", 4 * MIB, id="sqlite-while-copying"),
    # ...or once the payload is written, before the manifest.
    pytest.param("sqlite", "store:before-manifest", 4 * MIB, id="sqlite-before-the-manifest"),
    pytest.param("postgres", "store:space-checked", 16 * MIB, id="postgres-while-dumping",
                 marks=PG),
])
def test_a_store_that_fills_up_mid_snapshot_fails_it_and_nothing_is_migrated(
        engine, point, size, fault_engine, target, ledger):
    project, args = target("upgrade")
    before = fingerprint(fault_engine, project)
    with tmpfs(project.store, size):
        run = start(project, "-q", *args, env={**fault_engine.env, "SAFEGUARD_PAUSE": point})
        try:
            wait_stopped(run)
            filler = fill(project.store)
            resume(run)
            code = run.wait()
        finally:
            run.reap()
        filler.unlink()  # the space comes back; recover could write now

        settled = settle(project)
        ledger(Tally(tests=1, faults=1, recoveries=settled.recoveries,
                     data_lost=int(fingerprint(fault_engine, project)["state"] != before["state"])),
               point=point)
        line = one_line(run.stderr())
        assert code == 5, run.stderr()
        assert "No space left on device" in line, line
        assert_nothing_migrated(fault_engine, project, before)
        assert settled.recoveries == 0


def test_a_journal_line_torn_by_a_full_disk_does_not_hide_the_next_one(sqlite_engine, project,
                                                                        monkeypatch, ledger):
    """The disk fills up just as the journal's line would cross into a new page: the
    kernel writes what fits and the line is torn. The next line (recover's) must not
    merge with the fragment, or the recovery it records would be unreadable and the
    operation would look unfinished forever."""
    monkeypatch.setenv("DATABASE_URL", project.url)
    project = sqlite_engine.place(project, "1580131d7fd2")
    before = fingerprint(sqlite_engine, project)
    journal = journal_of(project)
    with tmpfs(project.store, 4 * MIB):
        run = start(project, "-q", "upgrade", "head", env={"SAFEGUARD_PAUSE": "store:space-checked"})
        try:
            wait_stopped(run)
            # Another writer's note (as `snapshot verify` leaves) puts the journal's end
            # just short of a page boundary: the next line cannot fit in this page.
            pad = PAGE - journal.stat().st_size % PAGE - 40
            pad += PAGE if pad < 60 else 0
            note = {"op": "-", "event": "note", "pad": ""}
            note["pad"] = "x" * (pad - len(json.dumps(note)) - 1)
            with open(journal, "a") as out:
                out.write(json.dumps(note) + "\n")
            filler = fill(project.store)
            resume(run)
            code = run.wait()
        finally:
            run.reap()
        torn = not journal.read_bytes().endswith(b"\n")
        filler.unlink()

        settled = settle(project)
        ledger(Tally(tests=1, faults=1, recoveries=settled.recoveries,
                     data_lost=int(fingerprint(sqlite_engine, project)["state"] != before["state"])))
        line = one_line(run.stderr())
        assert code == 9 and "cannot write the journal" in line, run.stderr()
        assert torn, "the full disk should have cut the journal's line short"
        assert_nothing_migrated(sqlite_engine, project, before)
        assert settled.recoveries == 1
        assert Journal(project.store).unfinished() == []
