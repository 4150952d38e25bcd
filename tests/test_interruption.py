"""The library's side of interruption: real signals sent to this very process, and the
caller's handlers found exactly as they were after a guarded run (the library leaves
its caller's process alone), from the main thread and from another one."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import weakref

import pytest
from conftest import HEAD

from safeguard import api, interruption
from safeguard.config import load_settings
from safeguard.interruption import Interrupted


@pytest.fixture
def callers_handlers():
    """A caller with handlers of its own for both signals; what they received."""
    got: list[int] = []

    def mine(signum, _frame):
        got.append(signum)

    previous = {sig: signal.signal(sig, mine) for sig in interruption.SIGNALS}
    yield mine, got
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def handlers() -> dict:
    return {sig: signal.getsignal(sig) for sig in interruption.SIGNALS}


def wakeup_fd() -> int:
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd


def test_a_guarded_run_leaves_the_callers_handlers_as_they_were(seeded, callers_handlers):
    mine, got = callers_handlers
    settings = load_settings(str(seeded.ini), url=seeded.url)
    before, fd = handlers(), wakeup_fd()

    result = api.migrate(settings, HEAD)

    assert result.outcome == "migrated"
    assert handlers() == before == {sig: mine for sig in interruption.SIGNALS}
    assert wakeup_fd() == fd
    assert got == []


def test_from_another_thread_no_handler_is_installed(seeded, callers_handlers):
    """Python runs signal handlers only in the main thread: from another thread the
    library installs none, and the caller's stay in force throughout."""
    mine, _ = callers_handlers
    settings = load_settings(str(seeded.ini), url=seeded.url)
    seen = []

    def work():
        with interruption.handling():
            seen.append(handlers())
        seen.append(api.migrate(settings, HEAD).outcome)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()

    assert seen == [{sig: mine for sig in interruption.SIGNALS}, "migrated"]


def test_a_signal_in_a_stoppable_region_raises_and_later_ones_are_only_noted():
    with interruption.handling():
        with pytest.raises(Interrupted) as raised, interruption.stoppable():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**7):  # the handler runs between two bytecodes
                pass
        assert raised.value.signum == signal.SIGTERM
        with interruption.finishing("the test"):
            os.kill(os.getpid(), signal.SIGINT)  # noted; nothing raised
        assert interruption.consume() == signal.SIGTERM


def test_a_signal_no_outcome_reported_reaches_the_callers_handler_afterwards(callers_handlers):
    """It came after the work had finished: the caller's handler gets it, once, when the
    library's handlers are gone."""
    _, got = callers_handlers
    with interruption.handling():
        os.kill(os.getpid(), signal.SIGTERM)
        assert interruption.received() == signal.SIGTERM
        assert got == []
    assert got == [signal.SIGTERM]


def test_a_canceller_stops_a_statement_computed_in_c(tmp_path):
    """A Python handler cannot run while SQLite computes a query in C: the canceller,
    called from the watcher thread, interrupts it (what the runner does for a
    migration's statement)."""
    conn = sqlite3.connect(tmp_path / "x.db", check_same_thread=False)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    with interruption.handling():
        with pytest.raises((Interrupted, sqlite3.OperationalError)), \
                interruption.stoppable(conn.interrupt):
            timer.start()
            conn.execute(endless).fetchone()
        assert interruption.consume() == signal.SIGINT
    conn.close()
    assert time.monotonic() - started < 30


def test_a_signal_landing_in_a_weakref_callback_still_stops_the_work(capfd):
    """Python drops an exception raised in a weakref callback (SQLAlchemy has some): the
    signal is sent again, so the work stops just after, with no traceback printed."""
    class Thing:
        pass

    def callback(_ref):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**6):  # the handler raises in here, and Python drops it
            pass

    with interruption.handling():
        with pytest.raises(Interrupted), interruption.stoppable():
            thing = Thing()
            ref = weakref.ref(thing, callback)
            del thing
            for _ in range(10**7):
                pass
        assert ref() is None
        interruption.consume()
    assert "Traceback" not in capfd.readouterr().err


def test_handlers_env_py_sets_during_an_operation_are_noted_not_installed(callers_handlers):
    """An env.py's `signal.signal(SIGINT, default_int_handler)` inside the operation
    took the signals from it (issue 33, item 6); the caller's are back afterwards."""
    mine, _got = callers_handlers
    real = signal.signal
    with interruption.handling():
        ours = handlers()
        assert signal.signal(signal.SIGINT, signal.default_int_handler) is mine
        assert signal.signal(signal.SIGINT, signal.SIG_IGN) is signal.default_int_handler
        assert handlers() == ours  # still safeguard's
        with pytest.raises(Interrupted), interruption.stoppable():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        interruption.consume()
        called: list[object] = []
        thread = threading.Thread(target=lambda: called.append(signal.signal(signal.SIGUSR1, signal.SIG_IGN)))
        thread.start()
        thread.join()
        assert called == [signal.getsignal(signal.SIGUSR1)]  # off the main thread: a no-op
    assert signal.signal is real
    assert handlers() == {sig: mine for sig in interruption.SIGNALS}


def test_a_forked_child_gets_the_callers_handlers_back(callers_handlers):
    """Issue 33, item 4: the child of a fork mid-operation is not the operation."""
    mine, _got = callers_handlers
    read_fd, write_fd = os.pipe()
    with interruption.handling(), interruption.running():
        pid = os.fork()
        if pid == 0:
            ok = (handlers() == {sig: mine for sig in interruption.SIGNALS}
                  and interruption.received() is None)
            os.write(write_fd, b"1" if ok else b"0")
            os._exit(0)  # the real one: the hook is gone in the child
        _, status = os.waitpid(pid, 0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reply:
        assert reply.read() == b"1"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
