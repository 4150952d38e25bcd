"""Which database a connection goes to, and a guard that holds env.py to one database.

safeguard snapshots the database it found by running env.py, then runs env.py again
for every revision. An env.py computes its URL each time it runs (from a settings
module, the environment, a file), so nothing but a check proves that the second run
connects where the first did. The check compares identities, the same names the
backends key snapshots and locks by: the resolved path of a SQLite file, or
``host:port/dbname`` of a PostgreSQL database. Drivers, user names, passwords and
spellings of one path do not count; identities never hold a secret, so they can be
printed as they are. Two spellings of one PostgreSQL server (``localhost`` and
``127.0.0.1``) are one server: hosts are compared by the addresses they resolve to.

The guard listens to SQLAlchemy's ``do_connect`` event, which fires before the driver
is asked to connect: a mismatch is refused before any statement runs, and before
SQLite can create an empty file at a wrong path.
"""

from __future__ import annotations

import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, Engine

from .backends import backend_for, connect_url
from .credentials import public_url
from .errors import DatabaseMismatchError, RefusedError, SafeguardError


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


def portable_name(engine: str, identity: str, project_dir: Path, configured: str | None = None) -> str:
    """The name that identifies a database on every machine, recorded in each manifest
    beside its identity, so that a checkout at another path, or on a new machine,
    restores its own snapshots: ``configured`` (the `database_name` setting) when set;
    a SQLite file inside the project directory by its path relative to it
    (``poolula.db``, wherever the checkout is); any other database by its identity (a
    file's absolute path, ``host:port/dbname``)."""
    if configured:
        return configured
    if engine == "sqlite":
        try:
            return Path(identity).relative_to(project_dir.resolve()).as_posix()
        except ValueError:  # outside the project: the same absolute path on every machine
            pass
    return identity


_SERVER_IDENTITY = re.compile(r"^(?P<host>[^/].*):(?P<port>\d+)/(?P<database>.+)$")


def same_database(a: str, b: str) -> bool:
    """Whether two identities name one database. Equal names do; so do two spellings of
    one server (``localhost`` and ``127.0.0.1``) with the same port and database name:
    hosts are compared by the addresses they resolve to, and one shared address is one
    server. A host that does not resolve matches only its own spelling."""
    if a == b:
        return True
    first, second = _SERVER_IDENTITY.match(a), _SERVER_IDENTITY.match(b)
    if not (first and second):
        return False  # SQLite paths (resolved already), Unix sockets, other engines
    if first["port"] != second["port"] or first["database"] != second["database"]:
        return False
    return bool(_addresses(first["host"], first["port"]) & _addresses(second["host"], second["port"]))


@lru_cache(maxsize=64)
def _addresses(host: str, port: str) -> frozenset[str]:
    try:
        found = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return frozenset()
    return frozenset(str(info[4][0]) for info in found)
@dataclass
class Held:
    """What a ``held_to`` guard let through."""

    connections: int = 0


@contextmanager
def held_to(expected: str, mismatch: Callable[[str], str], *,
            every_thread: bool = False) -> Iterator[Held]:
    """Refuse, with DatabaseMismatchError(``mismatch(actual)``), any connection made in
    the body, by the thread that runs it, to a database other than ``expected``; the
    guard counts those it allowed. The listener is on SQLAlchemy's Engine class (env.py
    creates its engine inside the body) for the body only; the caller's other threads
    and their engines are left alone; with ``every_thread``, connections from any thread
    are held (a rehearsal, whose health checks run in threads of their own, must prove
    that none of them reached the live database)."""
    held = Held()
    runner = threading.get_ident()

    def check(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:  # do_connect's signature
        if not every_thread and threading.get_ident() != runner:
            return None  # another thread of the caller's, not env.py
        actual = connect_identity(dialect, cargs, cparams)
        if actual is not None and not same_database(actual, expected):
            raise DatabaseMismatchError(mismatch(actual), first_connection=held.connections == 0)
        held.connections += 1
        return None  # go on and connect as usual

    event.listen(Engine, "do_connect", check)
    try:
        yield held
    finally:
        event.remove(Engine, "do_connect", check)


class _Aimed(SafeguardError):
    """Raised from do_connect to stop a connection once its target is known."""

    def __init__(self, identity: str) -> None:
        super().__init__(f"stopped before connecting to {identity}")
        self.identity = identity


@contextmanager
def aimed(targets: list[str | None]) -> Iterator[None]:
    """Stop the first connection made in the body before the driver is asked for it,
    appending the identity it was going to (None for an engine without a backend) to
    ``targets``: where code would connect, learnt without connecting (and without
    SQLite creating a file). Register this before any other do_connect listener of the
    body, so it runs first."""

    def stop(dialect, conn_rec, cargs, cparams):  # noqa: ANN001 - SQLAlchemy's signature
        identity = connect_identity(dialect, cargs, cparams)
        targets.append(identity)
        raise _Aimed(identity or dialect.name)

    event.listen(Engine, "do_connect", stop)
    try:
        yield
    except _Aimed:
        pass
    finally:
        event.remove(Engine, "do_connect", stop)
