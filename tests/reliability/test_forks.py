"""A revision that forks (issue 33, item 4): a `multiprocessing` pool with the fork
context, or `os.fork()` itself. The children are copies of safeguard mid-run; they
inherited its SIGINT/SIGTERM handlers and its os._exit hook, so a worker ended by the
pool (SIGTERM, then os._exit) raised into its copy of the run, journaled `apply
failed` and restored the pre-run snapshot over the live database while the real run
went on; a child that exited (sys.exit, os._exit) did the same, and left the upgrade
hanging on an orphan. Each child must end as it would under plain Alembic, and only
the process that owns the run may act on it.
"""

from __future__ import annotations

import json

import pytest
from conftest import HEAD, table_contents, version_of

from safeguard.journal import Journal

from .ledger import Tally

pytestmark = pytest.mark.reliability

FORKED = "f0a4c0ffee01"

#: What the revision does before it creates its table; each forks.
FORKS = {
    "pool": """
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(abs, range(-4, 0)) == [4, 3, 2, 1]
        # leaving the with block terminates the workers: SIGTERM, then their os._exit
    """,
    "pool-closed": """
        import multiprocessing
        pool = multiprocessing.get_context("fork").Pool(2)
        assert sum(pool.map(abs, range(-4, 0))) == 10
        pool.close()
        pool.join()  # the workers end by os._exit
    """,
    "os._exit": """
        import os
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
    """,
    "sys.exit": """
        import os, sys
        pid = os.fork()
        if pid == 0:
            sys.exit(0)
        assert os.waitpid(pid, 0)[1] == 0
    """,
    "SIGTERM": """
        import os, signal, time
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
    """,
}


@pytest.mark.parametrize("how", list(FORKS))
def test_a_revision_that_forks_migrates_once(seeded, how, ledger):
    seeded.cli("-q", "upgrade", "head")
    seeded.configure(metadata="")  # the models do not know the new table
    before = table_contents(seeded.db)
    seeded.add_revision(FORKED, HEAD, FORKS[how] + """
        op.create_table("forked", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("INSERT INTO forked (id) VALUES (1)")
    """)
    run = seeded.run("--json", "upgrade", "head", "--policy", "always", timeout=120)
    journal = Journal(seeded.store).operations()[-1]
    contents = table_contents(seeded.db)
    lost = int(any(contents.get(t) != rows for t, rows in before.items() if t != "alembic_version"))
    ledger(Tally(tests=1, faults=1, data_lost=lost), kind="fork", how=how, exit=run.returncode)

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["outcome"] == "migrated"
    assert version_of(seeded.db) == [FORKED] and contents["forked"] == [(1,)]
    assert journal.end is not None and journal.end["outcome"] == "migrated"
    assert [s for s in journal.steps if s.get("status") == "failed"] == [], journal.steps
    assert not [s for s in journal.steps if s.get("step") == "restore"], journal.steps
    assert not lost
    assert "Traceback" not in run.stderr, run.stderr

