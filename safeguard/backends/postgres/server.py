"""Reaching the server: connection parameters from a SQLAlchemy URL, connections to any
database on it, and the environment that hands the password to pg_dump/pg_restore.

The password never appears in a conninfo string, an argv or a message. In-process
connections get it as a separate libpq parameter; the client tools get it from a
temporary passfile (mode 0600) named by ``PGPASSFILE`` and deleted when they exit, in
an environment from which every variable spelling it (``DATABASE_URL``) is removed.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from ...credentials import SECRET_QUERY_KEYS, url_password, without_secret
from ...errors import RefusedError, SafeguardError

#: Databases to connect to for work on other databases (CREATE/DROP/RENAME DATABASE,
#: the advisory lock), in order of preference.
MAINTENANCE_DATABASES = ("postgres", "template1")
CONNECT_TIMEOUT_S = 10


def application_name(pid: int) -> str:
    """What every session of the safeguard process ``pid``, and of the pg_dump and
    pg_restore it runs, is called in pg_stat_activity: a waiting runner (or a person)
    can tell who holds what, and `recover` can find what a crashed runner left running."""
    return f"safeguard (pid {pid})"


APPLICATION_NAME = application_name(os.getpid())


@dataclass(frozen=True)
class Server:
    """Where the database lives and who safeguard connects as."""

    host: str | None
    port: int | None
    user: str | None
    database: str
    password: str | None = field(default=None, repr=False)
    #: Further libpq parameters from the URL's query string (sslmode, ...).
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_url(cls, url: URL) -> "Server":
        """Read the parameters of a ``postgresql://`` URL (no connection is made)."""
        # A password in the query string is a password too: never part of a conninfo,
        # which pg_dump and pg_restore receive on their command line.
        options = {key: value[-1] if isinstance(value, tuple) else value
                   for key, value in url.query.items() if key not in SECRET_QUERY_KEYS}
        host = url.host or options.pop("host", None)
        port = url.port or (int(options.pop("port")) if "port" in options else None)
        if not url.database:
            raise RefusedError("the PostgreSQL URL names no database (postgresql://host/DBNAME)")
        return cls(host=host, port=port, user=url.username, database=url.database,
                   password=url_password(url), options=options)

    def identity(self) -> str:
        """``host:port/dbname``: what snapshots and locks are keyed by."""
        return f"{self.host or 'localhost'}:{self.port or 5432}/{self.database}"

    def conninfo(self, database: str | None = None) -> str:
        """A libpq conninfo string for ``database`` (default: this one), without the password."""
        params = {"host": self.host, "port": self.port, "user": self.user,
                  "dbname": database or self.database, **self.options}
        return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})

    def connect(self, database: str | None = None, *, autocommit: bool = True) -> psycopg.Connection:
        """A new connection to ``database`` (default: this one); psycopg errors propagate."""
        return psycopg.connect(self.conninfo(database), password=self.password,
                               autocommit=autocommit, application_name=APPLICATION_NAME,
                               connect_timeout=CONNECT_TIMEOUT_S)

    def connect_maintenance(self) -> psycopg.Connection:
        """A connection to a database other than this one, for work on whole databases
        (a database cannot be renamed or dropped, nor copied as a template, while
        anyone, safeguard included, is connected to it)."""
        last: psycopg.Error | None = None
        for name in MAINTENANCE_DATABASES:
            if name == self.database:
                continue
            try:
                return self.connect(name)
            except psycopg.OperationalError as exc:
                if "does not exist" not in str(exc):
                    raise
                last = exc
        assert last is not None
        raise last

    @contextmanager
    def client_environment(self) -> Iterator[dict[str, str]]:
        """The environment for pg_dump/pg_restore: the password in a private passfile
        that exists only while the body runs."""
        # Not this process's environment as it is: it holds DATABASE_URL (set for env.py,
        # or by the caller), and a child's environment is readable in /proc.
        env = {**without_secret(os.environ, self.password), "PGAPPNAME": APPLICATION_NAME,
               "PGCONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S)}
        if self.password is None:
            # libpq falls back to PGPASSWORD or ~/.pgpass, as psql would.
            yield env
            return
        # libpq prefers PGPASSWORD to the passfile: an unrelated one inherited from
        # the caller's environment must not win over the URL's password.
        env.pop("PGPASSWORD", None)
        fd, path = tempfile.mkstemp(prefix="safeguard-", suffix=".pgpass")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as passfile:
                passfile.write(f"*:*:*:*:{_passfile_escape(self.password)}\n")
            yield {**env, "PGPASSFILE": path}
        finally:
            os.unlink(path)


def _passfile_escape(value: str) -> str:
    # The passfile's field separator and escape character (libpq's own rules).
    return value.replace("\\", "\\\\").replace(":", "\\:")


def describe(exc: psycopg.Error) -> str:
    """One line for a psycopg error: the server's or libpq's first line of explanation.
    (libpq never repeats the password in its messages.)"""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextmanager
def errors_as(error_cls: type[SafeguardError], what: str) -> Iterator[None]:
    """Translate psycopg errors raised in the body into ``error_cls("what: reason")``."""
    try:
        yield
    except psycopg.Error as exc:
        raise error_cls(f"{what}: {describe(exc)}") from exc


def connect_url(cparams: Mapping[str, Any]) -> URL:
    """The URL of the database a PostgreSQL driver is about to connect to, from the
    keyword arguments SQLAlchemy's ``do_connect`` event hands it (no secret kept)."""
    port = cparams.get("port")
    return URL.create("postgresql", host=cparams.get("host"), port=int(port) if port else None,
                      database=cparams.get("dbname") or cparams.get("database"))
