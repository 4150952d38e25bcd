"""Pooled connections that outlive a restore: found, and replaced, for safeguard's use.

A restore replaces the database under every connection already open to it: a SQLite
file is renamed over (a connection opened before keeps reading the old file, and
writing to it fails with "attempt to write a readonly database"), a PostgreSQL
database is renamed away and its sessions ended. safeguard's own connections are
opened per call, but an application's env.py may connect through the application's
engine (Flask-Migrate's does), whose pool keeps connections from before the restore
and hands them to the re-stamp and the checks that follow.

So, while a guarded operation holds the database (`renewal()`, entered by the
workspace), a restore that has replaced it calls `renew()`: from then on, any pooled
connection opened before is refused at checkout (SQLAlchemy's DisconnectionError, its
documented way to make a pool reconnect) and replaced by a new one. The application's
engine is not disposed behind its back: it must call ``engine.dispose()`` (with
Flask-SQLAlchemy, ``db.engine.dispose()``) after a restore, and safeguard logs a
warning when it met such an engine.
"""

from __future__ import annotations

import itertools
import logging
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import Pool

log = logging.getLogger(__name__)

_KEY = "safeguard_generation"
_generations = itertools.count(1)


class _Renewal:
    """The pool generation of one guarded operation: 0 until a restore renews it."""

    def __init__(self) -> None:
        self.generation = 0
        self.replaced = 0

    def on_connect(self, dbapi_connection: Any, record: Any) -> None:
        record.info[_KEY] = self.generation

    def on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if self.generation and record.info.get(_KEY) != self.generation:
            self.replaced += 1
            raise sa_exc.DisconnectionError("opened before safeguard restored the database")


_active: list[_Renewal] = []


@contextmanager
def renewal() -> Iterator[None]:
    """For the body (one guarded operation): replace, after a `renew()`, every pooled
    connection opened before it."""
    current = _Renewal()
    event.listen(Pool, "connect", current.on_connect)
    event.listen(Pool, "checkout", current.on_checkout)
    _active.append(current)
    try:
        yield
    finally:
        _active.remove(current)
        event.remove(Pool, "connect", current.on_connect)
        event.remove(Pool, "checkout", current.on_checkout)
        if current.replaced:
            log.warning("an engine in this process held %d pooled connection(s) from before "
                        "the restore; safeguard replaced them for its own use. The application "
                        "must dispose of its engine (engine.dispose(); Flask-SQLAlchemy: "
                        "db.engine.dispose()) before it uses the database again",
                        current.replaced)


def renew() -> None:
    """The database was just replaced: connections opened before now are stale."""
    generation = next(_generations)
    for current in _active:
        current.generation = generation
