"""Reaching the server: connection parameters from a SQLAlchemy URL, connections
through PyMySQL, and the option file that hands the password to the client tools.

The password never appears in an argv, a child's environment or a message.
In-process connections get it as a PyMySQL argument; mariadb-dump and mariadb get it
from a temporary option file (mode 0600, named by ``--defaults-extra-file``) that
exists only while they run, in an environment from which every variable spelling it
(``DATABASE_URL``, ``MYSQL_PWD``) is removed.
"""

from __future__ import annotations

import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pymysql
from sqlalchemy.engine import URL

from ...credentials import url_password, without_secret
from ...errors import RefusedError, SafeguardError

CONNECT_TIMEOUT_S = 10
DEFAULT_PORT = 3306


@dataclass(frozen=True)
class Server:
    """Where the database lives and who safeguard connects as."""

    host: str | None
    port: int | None
    user: str | None
    database: str
    password: str | None = field(default=None, repr=False)
    socket: str | None = None
    #: Seconds safeguard's own statements wait for other sessions' locks on a table
    #: (the session's lock_wait_timeout and innodb_lock_wait_timeout; the server's
    #: default is a year); 0 leaves the server's.
    lock_wait_timeout: float = 30.0

    @classmethod
    def from_url(cls, url: URL, *, lock_wait_timeout: float = 30.0) -> "Server":
        """Read the parameters of a ``mysql://`` / ``mariadb://`` URL (no connection)."""
        if not url.database:
            raise RefusedError("the MySQL URL names no database (mysql+pymysql://host/DBNAME)")
        query = {k: v[-1] if isinstance(v, tuple) else v for k, v in url.query.items()}
        return cls(host=url.host, port=url.port, user=url.username, database=url.database,
                   password=url_password(url), socket=query.get("unix_socket"),
                   lock_wait_timeout=lock_wait_timeout)

    def identity(self) -> str:
        """``host:port/dbname``: what snapshots and locks are keyed by."""
        return f"{self.host or 'localhost'}:{self.port or DEFAULT_PORT}/{self.database}"

    def connect(self, database: str | None = "", **kwargs: Any) -> pymysql.connections.Connection:
        """A new autocommit connection to ``database`` (default: this one; None: no
        database selected), whose statements wait at most ``lock_wait_timeout`` for
        another session's lock; PyMySQL errors propagate."""
        if self.lock_wait_timeout > 0:
            wait = max(1, math.ceil(self.lock_wait_timeout))
            kwargs.setdefault("init_command", f"SET SESSION lock_wait_timeout = {wait}, "
                                              f"innodb_lock_wait_timeout = {wait}")
        return pymysql.connect(
            host=self.host or "localhost", port=self.port or DEFAULT_PORT, user=self.user or "",
            password=self.password or "", unix_socket=self.socket,
            database=self.database if database == "" else database, autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S, charset="utf8mb4", **kwargs)

    @contextmanager
    def option_file(self) -> Iterator[tuple[str, dict[str, str]]]:
        """(the path of a private option file, the environment) for mariadb-dump and
        mariadb, both existing only while the body runs. The file must be named first
        on the tool's command line: ``--defaults-extra-file=PATH``."""
        env = without_secret(os.environ, self.password)
        env.pop("MYSQL_PWD", None)  # the client tools prefer it to nothing at all
        env.pop("MYSQL_HOST", None)
        lines = ["[client]"]
        if self.user:
            lines.append(f"user={_quoted(self.user)}")
        if self.password is not None:
            lines.append(f"password={_quoted(self.password)}")
        if self.socket:
            lines.append(f"socket={_quoted(self.socket)}")
        else:
            lines.append(f"host={_quoted(self.host or 'localhost')}")
            lines.append(f"port={self.port or DEFAULT_PORT}")
            lines.append("protocol=TCP")
        fd, path = tempfile.mkstemp(prefix="safeguard-", suffix=".cnf")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            yield path, env
        finally:
            os.unlink(path)


def _quoted(value: str) -> str:
    """A value of an option file, quoted with the escapes the client library reads."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def describe(exc: BaseException) -> str:
    """One line for a PyMySQL error: the server's message (never the password)."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) >= 2 and isinstance(args[1], str):
        return f"({args[0]}) {args[1].splitlines()[0] if args[1] else ''}".strip()
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextmanager
def errors_as(error_cls: type[SafeguardError], what: str) -> Iterator[None]:
    """Translate PyMySQL errors raised in the body into ``error_cls("what: reason")``."""
    try:
        yield
    except pymysql.Error as exc:
        raise error_cls(f"{what}: {describe(exc)}") from exc


def quote(name: str) -> str:
    """A MySQL identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


def connect_url(cparams: Mapping[str, Any]) -> URL:
    """The URL of the database a MySQL driver is about to connect to (no secret kept)."""
    port = cparams.get("port")
    return URL.create("mysql", host=cparams.get("host"), port=int(port) if port else None,
                      database=cparams.get("database") or cparams.get("db"))
