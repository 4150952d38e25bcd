"""The fault-injection suite: real crashes, full disks, a read-only store, killed client
tools, a locked database and concurrent writers, on SQLite and PostgreSQL, each ending
with proof that nothing was lost.

Run it alone with ``pytest -m reliability`` (PostgreSQL cases need the server that
``scripts/pgtest.sh run`` starts). Switches, read when the tests are collected:

    SAFEGUARD_SOAK=N          N times the random SIGKILL runs (a soak; default 1)
    SAFEGUARD_FAULT_SEED=S    run every random-kill case with seed S only (a replay)
    SAFEGUARD_FAULT_BASE=B    derive every seed from B (replays a whole run's seeds)

Every fault test writes what it did to a ledger (ledger.py); the totals are printed at
the end of the run (plugin.py).
"""
