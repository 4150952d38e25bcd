"""An env.py that installs its own signal handlers, and a revision that raises
KeyboardInterrupt itself (issue 33, item 6).

env.py runs inside safeguard's operation: its `signal.signal(SIGINT,
default_int_handler)` and `signal.signal(SIGTERM, SIG_DFL)` replaced safeguard's
handlers, so Ctrl-C or SIGTERM mid-revision left the database half-migrated with the
operation open; a KeyboardInterrupt raised by the code (no signal at all) did the same.
And env.py is run again off the main thread for a check (the revision check), where
any signal.signal() call raises "signal only works in main thread": every upgrade of
such a project failed its checks and was rolled back, while `alembic upgrade` worked.
"""

from __future__ import annotations

import json
import signal

import pytest
from conftest import HEAD, schema_of, table_contents, version_of

from safeguard.journal import Journal
from test_interrupt import NEW, PYTHON_LOOP, QUICK, SIGNAL_IDS, SIGNALS, add_slow_revision, signal_when

from .ledger import Tally
from .processes import start
from .states import error_line

pytestmark = pytest.mark.reliability

#: What a team's env.py adds (a web framework's or a worker library's habit).
OWN_HANDLERS = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
"""


def with_own_handlers(project, lines: str = OWN_HANDLERS) -> None:
    env = project.root / "alembic" / "env.py"
    text = env.read_text()
    anchor = "config = context.config\n"
    assert anchor in text
    env.write_text(text.replace(anchor, anchor + lines, 1))


def state(project) -> dict:
    return {"rows": table_contents(project.db), "schema": schema_of(project.db),
            "version": version_of(project.db)}


def closed(project) -> dict:
    journal = Journal(project.store)
    assert journal.unfinished() == [], "the operation was left open"
    return journal.operations()[-1].end


@pytest.fixture
def at_head(seeded):
    seeded.cli("-q", "upgrade", HEAD)
    return seeded


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_mid_revision_undoes_the_run_whatever_env_py_installed(at_head, sig, ledger):
    with_own_handlers(at_head)
    marker = add_slow_revision(at_head, PYTHON_LOOP)
    before = state(at_head)

    run = start(at_head, "--json", "upgrade", "head")
    code = signal_when(run, marker.exists, sig)
    after = state(at_head)
    unfinished = Journal(at_head.store).unfinished()
    ledger(Tally(tests=1, faults=1, interrupts=1, data_lost=int(after != before and not unfinished)),
           kind="foreign handlers", signal=signal.Signals(sig).name, exit=code)

    assert code == 128 + sig, run.stderr()
    assert after == before
    end = closed(at_head)
    assert end["interrupted"] == signal.Signals(sig).name
    assert f"interrupted by {signal.Signals(sig).name}" in error_line(run.stderr())


def test_a_keyboard_interrupt_raised_by_a_revision_is_a_failed_revision(at_head, ledger):
    at_head.add_revision(NEW, HEAD, """
        with op.batch_alter_table("properties") as batch:
            batch.drop_column("zoning")
        raise KeyboardInterrupt()
    """)
    before = state(at_head)

    run = at_head.run("--json", "upgrade", "head", timeout=120)
    after = state(at_head)
    ledger(Tally(tests=1, faults=1, data_lost=int(after != before)), kind="foreign handlers",
           how="raise KeyboardInterrupt()", exit=run.returncode)

    assert run.returncode == 6, run.stderr
    assert after == before
    closed(at_head)
    line = error_line(run.stderr)
    assert f"revision {NEW} failed" in line and "KeyboardInterrupt" in line, line
    assert json.loads(run.stdout)["result"]["failed_revision"] == NEW


@pytest.mark.parametrize("lines", [OWN_HANDLERS, "import signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"],
                         ids=["SIGINT-SIGTERM", "SIGUSR1"])
def test_an_env_py_that_sets_signal_handlers_can_be_guarded(at_head, lines, ledger):
    with_own_handlers(at_head, lines)
    at_head.add_revision(NEW, HEAD, QUICK, doc="quick")
    upgraded = at_head.run("--json", "upgrade", "head", timeout=120)
    checked = at_head.run("check", timeout=120)
    ledger(Tally(tests=1, faults=1, data_lost=int(version_of(at_head.db) not in ([NEW], [HEAD]))),
           kind="foreign handlers", how="env.py calls signal.signal()")

    assert upgraded.returncode == 0, upgraded.stderr
    assert json.loads(upgraded.stdout)["outcome"] == "migrated"
    assert version_of(at_head.db) == [NEW]
    assert checked.returncode == 0, checked.stdout + checked.stderr
