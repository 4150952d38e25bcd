"""Health checks: decide whether a migrated database is kept or restored.

Each check is a plain function that takes a `CheckContext` and returns `(passed,
detail)`, or `None` when it is not configured (skipped), or `Skip(why)` when it is but
does not apply now. Raising means the check could not
run: that is reported as an error and counts as a failure, because a check that did not
run proved nothing. Every check runs under a timeout.

Built-ins: integrity, revision, drift, data_guard, smoke. Then the team's own:
`sql_check.NAME = QUERY` keys, Python callables named in `checks`, and callables
registered under the `safeguard.checks` entry point group.

Inside a run whose undo is its transaction (undo.py), every check but the smoke check
runs on the migration's own connection, before the commit (`CheckContext.connection`):
each in a savepoint rolled back after it, so a check changes nothing and one that
fails on SQL leaves the transaction usable for the next; its time is bounded by
`statement_timeout` on the server, and it runs in the calling thread (the connection
is not shared with a thread that might outlive its timeout).

What the built-in checks read follows what the run changed (see footprint.py): after a
run, the integrity check and the data guard cover the tables it touched and the tables
referencing them; outside a run (`safeguard check`), the whole database, in the quick
form unless `--full` (or `integrity = full`, which also makes every run check the whole
database). Their time limit grows with the database (`time_limit`), so a large
database cannot turn a migration that succeeded into a rollback; the team's own checks
keep `check_timeout`.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import logging
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import Any, Callable, Iterator, Mapping, Sequence

import sqlalchemy as sa

from . import interruption
from .alembic_output import quiet_alembic
from .backends import Backend
from .config import Settings
from .errors import ConfigError
from .footprint import Footprint
from .host import hosted
from .preconditions import Preconditions
from .project import Project
from .reporting import size_words
from .revisions import DatabaseState, format_revs

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
#: The slowest a built-in check is assumed to read a database. SQLite's integrity_check
#: of many small rows with an index measured 3.3 s/GiB on an idle 2-core machine and
#: 508 s/GiB on the same machine at a load average of 15 (benchmarks/checks_bench.py):
#: 1 MiB/s (1,024 s/GiB) leaves a factor of 2 over the worst seen, so a check that is
#: working is never stopped; the limit only ends one that is stuck.
SLOWEST_BYTES_PER_S = 1 << 20
#: integrity_check's measured cost on many small rows with an index (benchmarks/checks_bench.py).
FULL_CHECK_S_PER_GIB = 3.3
#: Findings that explain a table losing rows (DS104) or vanishing (DS102, BC101).
EXPLAINS_LOSS = ("DS102", "DS104", "BC101")
#: Of those, the codes that make a table vanish (the data guard cites them for one gone).
VANISHES = ("DS102", "BC101")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    status: str
    duration: float
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status,
                "duration": round(self.duration, 4), "detail": self.detail}


@dataclass(frozen=True)
class Skip:
    """What a built-in check returns when it is configured but does not apply to this
    database now, and why (``None`` means: not configured)."""

    why: str


@dataclass(frozen=True)
class HealthReport:
    """Every check's result; the database is healthy when none failed or errored.
    `safeguard check` adds what a snapshot and its restore need (``preconditions``),
    which do not count towards ``ok``: the database is healthy either way."""

    results: tuple[CheckResult, ...]
    preconditions: Preconditions | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    def summary(self) -> str:
        """One line naming what failed, in words a person can act on."""
        if self.ok:
            return f"all {len(self.results)} checks passed"
        return "; ".join(f"check {r.name} {r.status}: {r.detail}" for r in self.failures)

    def lines(self) -> list[str]:
        """The report as people read it after a run or a restore, one line a check."""
        return ["Health checks:"] + [f"  {r.status:<8} {r.name}: {r.detail}" for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "checks": [r.to_dict() for r in self.results]}
        if self.preconditions is not None:
            out["preconditions"] = self.preconditions.to_dict()
        return out


@dataclass
class CheckContext:
    """What a check may look at."""

    backend: Backend
    project: Project
    settings: Settings
    database: DatabaseState
    #: The revisions the database must be at; None: "any single head, or behind it".
    expected_heads: tuple[str, ...] | None = None
    #: Rows per table before the run (for the data guard); None outside a run.
    before_counts: Mapping[str, int] | None = None
    #: The run's classified revisions (findings and acknowledgements explain row loss).
    classifications: Sequence[Any] = ()
    #: The migration's own connection, inside the run's uncommitted transaction, when
    #: the checks decide whether that transaction commits; None: the committed database.
    connection: sa.Connection | None = None
    #: What the run touched (footprint.py); None outside a run.
    footprint: Footprint | None = None
    #: Why the database needs no integrity check now (a restore proved every byte
    #: against the snapshot's digest), or None.
    proven: str | None = None
    #: A ``time.monotonic()`` instant no check may run past (the run's --timeout).
    deadline: float | None = None
    #: The time limit of the check running now (a statement_timeout on the run's own
    #: connection); None: check_timeout.
    limit: float | None = field(default=None, init=False, repr=False)
    _engine: sa.Engine | None = field(default=None, init=False, repr=False)
    _scope: tuple[frozenset[str] | None] | None = field(default=None, init=False, repr=False)
    _size: int | None = field(default=None, init=False, repr=False)
    #: (tables done, tables in all) of the check running now, for a timeout's message.
    done: tuple[int, int] | None = field(default=None, init=False, repr=False)

    @property
    def engine(self) -> sa.Engine:
        """An engine for the database, created on first use, without a pool."""
        if self._engine is None:
            self._engine = sa.create_engine(self.database.url, poolclass=sa.pool.NullPool)
        return self._engine

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection that sees what the check must judge: the run's own, inside a
        savepoint rolled back afterwards (with the check's time limit on the server),
        or a new one to the committed database."""
        if self.connection is None:
            with self.engine.connect() as conn:
                yield conn
            return
        savepoint = self.connection.begin_nested()
        try:
            # (SET inside the savepoint: undone with it)
            self.backend.limit_statement_time(self.connection, self.time_limit())
            yield self.connection
        finally:
            savepoint.rollback()

    def current_heads(self) -> tuple[str, ...]:
        """The revisions alembic_version holds, as this check's connection sees them."""
        if self.connection is None:
            return self.project.database(check_known=False).heads
        from alembic.runtime.migration import MigrationContext

        with self.connect() as conn, quiet_alembic():
            return tuple(MigrationContext.configure(conn).get_current_heads())

    @contextlib.contextmanager
    def backend_connection(self) -> Iterator[Any]:
        """For the backend's own queries: the driver connection of the run's transaction,
        inside a savepoint as in connect(); or None, and the backend connects itself."""
        if self.connection is None:
            yield None
            return
        with self.connect() as conn:
            yield conn.connection.driver_connection

    def time_limit(self) -> float:
        """The running check's time limit, in seconds (0: none)."""
        return self.settings.check_timeout if self.limit is None else self.limit

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def scope(self) -> frozenset[str] | None:
        """The tables the run's checks cover (touched, and referencing those); None
        for the whole database: outside a run, with `integrity = full`, or when the
        footprint is unknown."""
        if self._scope is None:
            if self.footprint is None or self.settings.integrity == "full":
                self._scope = (None,)
            else:
                # The schema as the checks see it: the run's own, before its commit.
                with self.backend_connection() as connection:
                    schema = self.backend.schema(connection=connection)
                self._scope = (self.footprint.scope(schema),)
        return self._scope[0]

    def size(self) -> int:
        """The database's size in bytes (0 if it cannot be read)."""
        if self._size is None:
            try:
                self._size = self.backend.size()
            except Exception:  # noqa: BLE001 - only sizes a time limit
                self._size = 0
        return self._size

    def progress(self, done: int, total: int) -> None:
        """A check went through ``done`` of its ``total`` tables."""
        self.done = (done, total)

    def scope_words(self) -> str:
        """Which tables the built-in checks cover, and why, in words."""
        scope = self.scope()
        if scope is None:
            if self.settings.integrity == "full":
                return "the whole database (--full or integrity = full)"
            if self.footprint is None:
                return "the whole database"
            return f"the whole database: {self.footprint.why}"
        known = self.footprint.tables if self.footprint is not None else None
        touched = sorted(t for t in known or () if t in scope)
        others = sorted(scope - set(touched))
        words = f"the tables the run touched ({', '.join(touched) or 'none'})"
        if others:
            words += f" and those referencing them ({', '.join(others)})"
        return words


Check = Callable[[CheckContext], Any]


# -- built-in checks ----------------------------------------------------------------

def integrity(ctx: CheckContext) -> tuple[bool, str]:
    """The engine's own integrity checks (SQLite: integrity_check or quick_check, and
    foreign_key_check; PostgreSQL: no constraint left NOT VALID, no invalid index). A
    migration that rebuilt a table can leave rows pointing at nothing; the application
    finds out much later, this check finds out now.

    After a run: the full form on the tables it touched and those referencing them
    (the whole database when that is unknown); `integrity = quick` uses the quick
    form; `integrity = full` checks the whole database in the full form. Outside a
    run: the quick form of the whole database (`safeguard check --full`: the full)."""
    mode = ctx.settings.integrity
    if ctx.proven and mode != "full":
        return True, f"not read again: {ctx.proven}"
    scope = ctx.scope()
    quick = mode == "quick" or (mode == "changed" and ctx.footprint is None)
    with ctx.backend_connection() as connection:
        problems = ctx.backend.integrity_problems(quick=quick, tables=scope, progress=ctx.progress,
                                                  connection=connection)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return False, f"{problems[0]}{more}"
    form = "quick" if quick else "full"
    return True, f"no problems found ({form} check of {ctx.scope_words()})"


def revision(ctx: CheckContext) -> tuple[bool, str]:
    """The database is at the revision the run aimed for and the scripts have one head
    (or the heads asked for): a revision file edited after it was applied, or a merge
    forgotten, shows up here."""
    heads = ctx.current_heads()
    if ctx.expected_heads is not None:
        if set(heads) != set(ctx.expected_heads):
            return False, f"database is at {format_revs(heads)}, expected {format_revs(ctx.expected_heads)}"
        return True, f"at {format_revs(heads)}"
    script_heads = ctx.project.heads()
    if len(script_heads) > 1:
        return False, f"the scripts have {len(script_heads)} heads: {format_revs(script_heads)}"
    unknown = ctx.project.unknown_revisions(heads)
    if unknown:
        return False, f"database is at {format_revs(unknown)}, which the scripts do not know"
    pending = len(ctx.project.steps("heads", heads, "upgrade"))
    behind = f", {pending} revision(s) behind head" if pending else ", at head"
    return True, f"at {format_revs(heads)}{behind}"


def drift(ctx: CheckContext) -> tuple[bool, str] | Skip | None:
    """The migrated schema matches the application's models (Alembic's
    compare_metadata against the `metadata` setting): a migration that forgot a column
    the code reads passes every other check and breaks the first request. With no
    `metadata` set, a hosted project's own models (Flask-Migrate: db.metadata)."""
    host, path = ctx.settings.host, ctx.settings.metadata
    models: Callable[[], Any]
    if path:
        named, models = path, lambda: load_object(path, "metadata")
    elif host is not None and host.metadata is not None:
        named, models = host.metadata_name, host.metadata
    else:
        return None
    problem = ctx.project.scripts_problem()
    if problem:
        return Skip(f"the scripts cannot be loaded, so which revision is head is unknown: {problem}")
    heads, script_heads = ctx.current_heads(), ctx.project.heads()
    if set(heads) != set(script_heads):
        # The models describe head; another revision is not expected to match them.
        return Skip(f"the database is at {format_revs(heads)}, not at head "
                    f"({format_revs(script_heads)}): the models describe head")
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    target = models()
    with ctx.connect() as conn, quiet_alembic(), _quiet_autogenerate(), \
            warnings.catch_warnings():
        # Comparing reflected PostgreSQL constraints (Alembic 1.20, SQLAlchemy 2.1) makes
        # SQLAlchemy warn that it knows no dialect named "dialect" for an argument named
        # "dialect_options": the comparison is unaffected; the warning is noise in every run.
        warnings.filterwarnings("ignore", message="Can't validate argument 'dialect_options'",
                                category=sa.exc.SAWarning)
        compare = {"compare_type": True, **(ctx.settings.host.compare if ctx.settings.host else {})}
        context = MigrationContext.configure(conn, opts=compare)
        diffs = compare_metadata(context, target)
    if not diffs:
        return True, "the schema matches the models"
    described = [_describe_diff(d) for d in diffs]
    more = f" (and {len(described) - 3} more)" if len(described) > 3 else ""
    return False, f"schema differs from {named}: {'; '.join(described[:3])}{more}"


@contextlib.contextmanager
def _quiet_autogenerate() -> Iterator[None]:
    """compare_metadata logs each difference at INFO ("Detected removed table"); the
    check's own result says it once. Its loggers are children of this one."""
    logger = logging.getLogger("alembic.autogenerate")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _describe_diff(diff: Any) -> str:
    """One of compare_metadata's tuples, in words naming table and column."""
    if isinstance(diff, list):  # modify_* diffs come grouped in a list
        diff = diff[0]
    kind = diff[0]
    if kind == "add_table":
        return f"table {diff[1].name} is in the models but not the database"
    if kind == "remove_table":
        return f"table {diff[1].name} is in the database but not the models"
    if kind == "add_column":
        return f"column {diff[2]}.{diff[3].name} is in the models but not the database"
    if kind == "remove_column":
        return f"column {diff[2]}.{diff[3].name} is in the database but not the models"
    if kind.startswith("modify_"):
        return (f"column {diff[2]}.{diff[3]}: {kind[len('modify_'):]} differs "
                f"({diff[5]!r} in the database, {diff[6]!r} in the models)")
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        where = "models" if kind == "add_index" else "database"
        return f"index {index.name} on {index.table.name} only in the {where}"
    return " ".join(str(part) for part in diff[:3])


def data_guard(ctx: CheckContext) -> tuple[bool, str] | None:
    """No table lost rows, or vanished, unless a revision in the run says it would
    (DS102 drops the table, DS104 deletes rows, BC101 renames it) or its author
    acknowledged it: a WHERE clause that matched too much is data loss nobody sees."""
    if not ctx.before_counts:
        return None  # outside a run, or nothing existed before it
    scope = ctx.scope()
    if scope is not None and ctx.footprint is not None:
        scope |= ctx.footprint.tables or frozenset()  # a touched table may be gone
    # Tables the run did not touch (nor any that references them) kept their rows.
    with ctx.backend_connection() as connection:
        after = ctx.backend.row_counts(scope, connection=connection)
    compared = {t: n for t, n in ctx.before_counts.items() if scope is None or t in scope}
    problems, expected = [], []
    for table, before in sorted(compared.items()):
        if table == "alembic_version":
            continue
        now = after.get(table)
        if now is not None and now >= before:
            continue
        loss = (f"table {table} ({before} rows) is gone" if now is None
                else f"table {table} lost {before - now} of {before} rows")
        why = _explained(table, ctx.classifications, gone=now is None)
        if why:
            expected.append(f"{loss}, {why}")
        else:
            problems.append(loss)
    if problems:
        return False, ("; ".join(problems) + " and no revision in the run says it would "
                       "(acknowledge it with a module-level `safeguard = {...}` if intended)")
    if expected:
        # A pass, but never "no table lost rows": the loss is reported, with who said so.
        return True, "; ".join(expected)
    return True, f"no table lost rows (compared {ctx.scope_words()})"


def _explained(table: str, classifications: Sequence[Any], *, gone: bool = False) -> str | None:
    """How the run said this table would lose rows, or None: a revision said it would
    drop, delete from or rename it; or its author acknowledged a revision that touches
    it (or tables it cannot name). A table that is ``gone`` is explained first by what
    makes a table vanish (DS102, BC101), a table that lost rows by a delete (DS104),
    whatever order the findings came in."""
    word = re.compile(rf"(?<![\w.]){re.escape(table)}(?![\w])")
    preferred = VANISHES if gone else ("DS104",)
    said: list[tuple[str, str]] = []
    acknowledged_in: str | None = None
    for c in classifications:
        acknowledged = getattr(c, "acknowledgement", None) is not None
        revision = getattr(c, "revision", None) or "?"
        for f in getattr(c, "findings", ()):
            named = getattr(f, "table", None)
            mentions = named == table or (named is None and bool(word.search(f.message)))
            if f.code in EXPLAINS_LOSS and mentions:
                said.append((f.code, f"expected: revision {revision} says so ({f.code})"))
            elif acknowledged and acknowledged_in is None and (mentions or f.code == "UN101"):
                acknowledged_in = f"expected and acknowledged in revision {revision} ({f.code})"
    if said:
        return next((why for code, why in said if code in preferred), said[0][1])
    return acknowledged_in


def smoke(ctx: CheckContext) -> tuple[bool, str] | None:
    """The application's own smoke check (the `smoke_check` setting, e.g.
    core.database.connection:check_connection): the code that will run against this
    database, run against it now."""
    if not ctx.settings.smoke_check:
        return None
    fn = load_object(ctx.settings.smoke_check, "smoke_check")
    passed, detail = _interpret(fn(), ctx.settings.smoke_check)
    return passed, f"{ctx.settings.smoke_check}: {detail}"


BUILTIN_CHECKS: tuple[tuple[str, Check], ...] = (
    ("integrity", integrity),
    ("revision", revision),
    ("drift", drift),
    ("data_guard", data_guard),
    ("smoke", smoke),
)
#: Checks that open a connection of their own (the application's code): they cannot
#: see, or judge, a transaction that has not committed.
OWN_CONNECTION = ("smoke",)


def own_connection_checks(settings: Settings) -> list[str]:
    """The configured checks that cannot run inside the run's transaction."""
    return ["smoke"] if settings.smoke_check else []
#: The checks whose time limit grows with the database (see time_limit).
BUILTIN_LIMITED = frozenset({"integrity", "revision", "drift", "data_guard"})


# -- the team's own checks -----------------------------------------------------------

def sql_check(name: str, query: str) -> Check:
    """A SQL assertion: passes when the query returns one true value, or no rows. It
    runs read-only (see read_only)."""

    def check(ctx: CheckContext) -> tuple[bool, str]:
        with ctx.connect() as conn, read_only(conn):
            ctx.backend.limit_statement_time(conn, ctx.time_limit())
            rows = conn.execute(sa.text(query)).fetchmany(6)
        if not rows:
            return True, "no rows"
        if len(rows) == 1 and len(rows[0]) == 1:
            # One value: said as a passing one is ("returned true"), not as a row.
            value = rows[0][0]
            if value in (True, 1):
                return True, "returned true"
            return False, f"returned {_sql_value(value)}"
        count = f"{len(rows)} rows" if len(rows) <= 5 else "more than 5 rows"
        shown = ", ".join(repr(tuple(r)) for r in rows[:5])
        return False, f"returned {count}: {shown}{' ...' if len(rows) > 5 else ''}"

    check.__doc__ = f"sql_check.{name}"
    return check


def _sql_value(value: Any) -> str:
    """A single value a SQL check returned, in SQL's words (false, NULL, 'text')."""
    if value is None:
        return "NULL"
    if value in (False, 0):
        return "false"
    return repr(value)


def _cancelled(exc: BaseException) -> bool:
    """A statement cancelled by statement_timeout (SQLSTATE 57014)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "57014"


def python_check(path: str) -> Check:
    """A Python check by dotted path: called with a SQLAlchemy Connection (read-only:
    see read_only); returns a bool, `(bool, detail)`, or None (passed), or raises."""

    def check(ctx: CheckContext) -> tuple[bool, str]:
        fn = load_object(path, "checks")
        with ctx.connect() as conn, read_only(conn):
            return _interpret(fn(conn), path)

    return check


#: SQLite pragmas that only read, though they take an argument.
SQLITE_READING_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check"})
#: SQLite pragmas that change something even without an argument.
SQLITE_WRITING_PRAGMAS = frozenset({"wal_checkpoint", "optimize", "incremental_vacuum"})


@contextlib.contextmanager
def read_only(conn: sa.Connection) -> Iterator[None]:
    """The team's check on ``conn`` can read but not change anything: the checks decide
    whether a migrated database is kept, and one with a side effect (a `PRAGMA
    journal_mode=wal`, an `ATTACH` that creates a file, a table created and committed)
    changed what it was judging. An attempt is the check's error.

    SQLite: `PRAGMA query_only` (no write to the database), and an authorizer that
    refuses what query_only lets through: ATTACH and DETACH, a pragma that sets a value
    (but those that read with an argument: table_info...) and the few that write
    without one (wal_checkpoint...); both put back after the check, so the run's own
    connection goes on as it was. PostgreSQL: the transaction (the run's savepoint, or
    the check's own connection) and the session are read-only (nextval() too is
    refused: a sequence is not rolled back); a savepoint's rollback puts the run's
    transaction back as it was. MariaDB and MySQL: the session's transactions are
    read-only (DDL, which commits on its own, included), and read-write again after."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        driver: Any = conn.connection.driver_connection
        was = driver.execute("PRAGMA query_only").fetchone()[0]
        driver.execute("PRAGMA query_only = ON")
        driver.set_authorizer(_sqlite_read_only)
        try:
            yield
        finally:
            driver.set_authorizer(None)
            driver.execute(f"PRAGMA query_only = {1 if was else 0}")
    elif dialect == "postgresql":
        conn.execute(sa.text("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
        yield  # the check's connection is closed after it, the run's savepoint rolled back
    elif dialect in ("mysql", "mariadb"):
        conn.execute(sa.text("SET SESSION TRANSACTION READ ONLY"))
        try:
            yield
        finally:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.execute(sa.text("SET SESSION TRANSACTION READ WRITE"))
    else:
        yield


def _sqlite_read_only(action: int, name: str | None, argument: str | None, *_: Any) -> int:
    """sqlite3's authorizer for read_only."""
    import sqlite3

    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        pragma = (name or "").lower()
        if pragma in SQLITE_WRITING_PRAGMAS:
            return sqlite3.SQLITE_DENY
        if argument is not None and pragma not in SQLITE_READING_PRAGMAS:
            return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _interpret(value: Any, name: str) -> tuple[bool, str]:
    if value is None or value is True:
        return True, "passed"
    if value is False:
        return False, f"{name} returned False"
    if isinstance(value, tuple) and len(value) == 2:
        return bool(value[0]), str(value[1])
    if isinstance(value, CheckResult):
        return value.ok, value.detail
    return bool(value), repr(value)


def user_checks(settings: Settings) -> list[tuple[str, Check]]:
    """The team's checks from config and from the `safeguard.checks` entry points."""
    checks = [(f"sql:{name}", sql_check(name, query))
              for name, query in sorted(settings.sql_checks.items())]
    checks += [(f"python:{path}", python_check(path)) for path in settings.checks]
    for entry in importlib_metadata.entry_points(group="safeguard.checks"):
        checks.append((f"plugin:{entry.name}", python_check(entry.value)))
    return checks


def load_object(path: str, key: str) -> Any:
    """`package.module:attr.attr` -> the object (ConfigError naming the key if not)."""
    module_name, _, attrs = path.partition(":")
    if not module_name or not attrs:
        raise ConfigError(f"{key} = {path!r}: expected 'package.module:attribute'")
    try:
        obj = importlib.import_module(module_name)
        for attr in attrs.split("."):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{key} = {path!r} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    return obj


# -- running ---------------------------------------------------------------------------

def run_checks(ctx: CheckContext, checks: Sequence[tuple[str, Check]] | None = None) -> HealthReport:
    """Run every check, each timed and under the check timeout; an exception is that
    check's error, never a crash and never a pass."""
    if checks is None:
        checks = [*BUILTIN_CHECKS, *user_checks(ctx.settings)]
    results = []
    try:
        # The smoke check reads DATABASE_URL as env.py does; env.py runs again in the
        # checks' threads, where a signal.signal() of its own would raise (see
        # interruption.diverted).
        with ctx.project.environment(), interruption.diverted():
            for name, check in checks:
                if ctx.connection is not None and name in OWN_CONNECTION:
                    continue  # the plan made the undo a snapshot if one was configured
                results.append(_run_one(name, check, ctx, *time_limit(name, ctx)))
    finally:
        ctx.close()
    return HealthReport(tuple(results))


def time_limit(name: str, ctx: CheckContext) -> tuple[float, str]:
    """A check's time limit (0: none) and where it comes from. A built-in check (the
    smoke check is the application's) may take check_timeout plus the database read
    at the slowest rate a check is assumed to reach, so that a large database cannot
    make a check that is merely working time out: a timeout means a rollback."""
    limit, why = ctx.settings.check_timeout, f"check_timeout {ctx.settings.check_timeout:g}s"
    if limit and name in BUILTIN_LIMITED:
        limit += ctx.size() / SLOWEST_BYTES_PER_S
        why += f" + {size_words(ctx.size())} at {size_words(SLOWEST_BYTES_PER_S)}/s"
    if ctx.deadline is not None:
        left = max(ctx.deadline - time.monotonic(), 0.001)
        if not limit or left < limit:
            limit, why = left, "what was left of the run's --timeout"
    return limit, why


def _timed_out(name: str, ctx: CheckContext, limit: float, why: str, elapsed: float) -> str:
    """Which check (the caller names it), how far it got, and what it would have cost."""
    message = f"did not finish within {limit:g}s ({why})"
    done = ctx.done
    if done and done[0]:
        return (f"{message}: it had checked {done[0]} of {done[1]} tables; all of them "
                f"would have taken about {elapsed * done[1] / done[0]:.0f}s")
    if name in BUILTIN_LIMITED:
        expected = ctx.size() / (1 << 30) * FULL_CHECK_S_PER_GIB
        return (f"{message}: it had not finished its first table; a full check of the whole "
                f"database ({size_words(ctx.size())}) is expected to take about {expected:.0f}s")
    return message


def _run_one(name: str, check: Check, ctx: CheckContext, timeout: float, why: str) -> CheckResult:
    outcome: dict[str, Any] = {}
    ctx.done, ctx.limit = None, timeout

    def target() -> None:
        try:
            with hosted(ctx.settings.host):  # a thread of its own: enter the host's context here
                outcome["value"] = check(ctx)
        except BaseException as exc:  # reported, never raised: see run_checks
            outcome["error"] = exc

    started = time.perf_counter()
    if ctx.connection is not None:  # the run's connection: bounded by statement_timeout
        target()
        duration = time.perf_counter() - started
        if "error" in outcome and _cancelled(outcome["error"]):
            return CheckResult(name, ERROR, duration, _timed_out(name, ctx, timeout, why, duration))
    else:
        # In the caller's context: env.py and checks may read context-local state the
        # caller set up (Flask's app context, a request-scoped session, contextvars).
        worker = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                                  name=f"check-{name}", daemon=True)
        worker.start()
        worker.join(timeout or None)
        duration = time.perf_counter() - started
    if ctx.connection is None and worker.is_alive():
        return CheckResult(name, ERROR, duration, _timed_out(name, ctx, timeout, why, duration))
    if "error" in outcome:
        exc = outcome["error"]
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return CheckResult(name, ERROR, duration,
                           f"could not run: {type(exc).__name__}: {message[0] if message else ''}")
    value = outcome.get("value")
    if value is None:
        return CheckResult(name, SKIPPED, duration, "not configured or not applicable")
    if isinstance(value, Skip):
        return CheckResult(name, SKIPPED, duration, value.why)
    passed, detail = value
    return CheckResult(name, PASSED if passed else FAILED, duration, detail)
