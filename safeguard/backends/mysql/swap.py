"""Swapping a restored copy in for the live database, and cleaning up after a swap
that a crash interrupted.

MySQL has no RENAME DATABASE, but one ``RENAME TABLE`` statement moving many tables
is atomic (and crash-safe on InnoDB). The snapshot is loaded beside the live database
(``D__sg_restoring``, see names.py), checked, and then:

    1. its schema objects are read and its triggers dropped (a table with triggers
       cannot move to another database: "Trigger in wrong schema")
    2. the live database's triggers are dropped, for the same reason
    3. RENAME TABLE D.t1 TO D__sg_old.t1, ..., D__sg_restoring.t1 TO D.t1, ...
       one statement: D holds the failed migration's tables or the snapshot's, never a mix
    4. D's views, routines and events are dropped and the snapshot's created, with
       its triggers (views cannot be renamed across databases: they are recreated)
    5. D__sg_old and D__sg_restoring are dropped

Steps 2 and 3 wait at most ``table_lock_timeout`` for other sessions holding the
tables (an application's open transaction): when it runs out, the triggers dropped
are put back, and the restore fails naming the sessions (RestoreRefusedError: the
live database is as it was; the caller drops the loaded copy).

Steps 2-5 run after the journal says the swap started. A crash anywhere in them is
completed by `recover`, which restores the snapshot again from the store: that
restore begins with `finish_interrupted`, which leaves D with a complete set of tables
(moving the old ones back if a crash ever left D with none) and drops the rest.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pymysql

from ... import faults
from ...errors import RestoreError, RestoreRefusedError
from . import catalog, names, sessions
from .catalog import SchemaObject
from .server import describe, quote

Cursor = Any


def finish_interrupted(cur: Cursor, live: str) -> str | None:
    """Leave ``live`` with its tables and none of an interrupted restore's databases;
    what was done, None if nothing was."""
    staging, old = names.restoring(live), names.old(live)
    found = [name for name in (staging, old) if catalog.exists(cur, name)]
    if not found:
        return None
    done = f"cleaned up after an interrupted restore of {live} ({', '.join(found)})"
    if old in found and catalog.exists(cur, live) and not catalog.tables(cur, live):
        moved = catalog.tables(cur, old)
        if moved:
            rename(cur, [(old, t, live) for t in moved])
            done = f"undid an interrupted swap: moved {len(moved)} tables from {old} back to {live}"
    for name in found:
        cur.execute(f"DROP DATABASE IF EXISTS {quote(name)}")
    return done


def rename(cur: Cursor, moves: Sequence[tuple[str, str, str]]) -> None:
    """One RENAME TABLE statement: each (from database, table, to database)."""
    if moves:
        cur.execute("RENAME TABLE " + ", ".join(
            f"{quote(a)}.{quote(t)} TO {quote(b)}.{quote(t)}" for a, t, b in moves))


def swap_in(cur: Cursor, live: str, staging: str, loaded: Sequence[SchemaObject],
            swapping: Callable[[], None], *, waited: float) -> None:
    """Steps 2-5 above (the caller did 1 and calls this in a region no signal stops);
    ``waited``: the connection's lock_wait_timeout, for the message."""
    old = names.old(live)
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(old)}")
    swapping()
    faults.point("mysql-swap-started")
    current = catalog.objects(cur, live)
    triggers = [o for o in current if o.kind == "TRIGGER"]
    try:
        catalog.drop_objects(cur, live, triggers)
        faults.point("mysql-swap-triggers-dropped")
        rename(cur, [(live, t, old) for t in catalog.tables(cur, live)]
               + [(staging, t, live) for t in catalog.tables(cur, staging)])
    except pymysql.Error as exc:
        if not sessions.timed_out(exc):
            raise
        _held_up(cur, live, staging, triggers, waited)
    faults.point("mysql-swap-renamed")
    catalog.drop_objects(cur, live, [o for o in current if o.kind != "TRIGGER"])
    catalog.create_objects(cur, live, loaded)
    faults.point("mysql-swap-objects")
    cur.execute(f"DROP DATABASE IF EXISTS {quote(old)}")
    cur.execute(f"DROP DATABASE IF EXISTS {quote(staging)}")


def _held_up(cur: Cursor, live: str, staging: str, triggers: Sequence[SchemaObject],
             waited: float) -> None:
    """The swap could not get the tables: put ``live``'s triggers back and refuse."""
    found = sessions.holders(cur, (live, staging))
    message = (f"other sessions held tables of {live} for more than {waited:g}s, so the restored "
               f"copy could not be swapped in: {sessions.describe(found) if found else 'none found'}; "
               "end them (or raise table_lock_timeout) and try again")
    try:
        present = {o.name for o in catalog.objects(cur, live) if o.kind == "TRIGGER"}
        catalog.create_objects(cur, live, [t for t in triggers if t.name not in present])
        cur.execute(f"DROP DATABASE IF EXISTS {quote(names.old(live))}")
    except pymysql.Error as exc:
        raise RestoreError(f"{message}; putting back the triggers of {live} failed too: "
                           f"{describe(exc)}") from exc
    raise RestoreRefusedError(message)
