"""Which database a connection goes to, and a guard that holds env.py to one database.

safeguard snapshots the database it found by running env.py, then runs env.py again
for every revision. An env.py computes its URL each time it runs (from a settings
module, the environment, a file), so nothing but a check proves that the second run
connects where the first did. The check compares identities, the same names the
backends key snapshots and locks by: the resolved path of a SQLite file, or
``host:port/dbname`` of a PostgreSQL database. Drivers, user names, passwords and
spellings of one path do not count; identities never hold a secret, so they can be
printed as they are.

The guard listens to SQLAlchemy's ``do_connect`` event, which fires before the driver
is asked to connect: a mismatch is refused before any statement runs, and before
SQLite can create an empty file at a wrong path.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, Engine

from .backends import backend_for, connect_url
from .credentials import public_url
from .errors import DatabaseMismatchError, RefusedError


def identity_of(url: URL) -> str:
    """The identity of the database ``url`` names (no connection is made); for a URL
    no backend takes, the URL itself, every password masked."""
    try:
        return backend_for(url).identity()
    except RefusedError:  # another engine, an in-memory SQLite database, no database named
        return public_url(url)


def connect_identity(dialect: Dialect, cargs: Sequence[Any], cparams: Mapping[str, Any]) -> str | None:
    """The identity of the database a driver is about to connect to, from the
    arguments SQLAlchemy hands it; None for an engine safeguard has no backend for."""
    url = connect_url(dialect.name, cargs, cparams)
    return identity_of(url) if url is not None else None


@contextmanager
def held_to(expected: str, mismatch: Callable[[str], str]) -> Iterator[None]:
    """Refuse, with DatabaseMismatchError(``mismatch(actual)``), any connection made in
    the body to a database other than ``expected``."""
    allowed = 0

    def check(dialect, conn_rec, cargs, cparams):  # noqa: ANN001 - SQLAlchemy's signature
        nonlocal allowed
        actual = connect_identity(dialect, cargs, cparams)
        if actual is not None and actual != expected:
            raise DatabaseMismatchError(mismatch(actual), first_connection=allowed == 0)
        allowed += 1
        return None  # go on and connect as usual

    event.listen(Engine, "do_connect", check)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", check)
