"""Health checks: decide whether a migrated database is kept or restored.

Each check is a plain function that takes a `CheckContext` and returns `(passed,
detail)`, or `None` when it does not apply (skipped). Raising means the check could not
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

from .alembic_output import quiet_alembic
from .backends import Backend
from .config import Settings
from .errors import ConfigError
from .host import hosted
from .project import Project
from .revisions import DatabaseState, format_revs

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
#: Findings that explain a table losing rows (DS104) or vanishing (DS102, BC101).
EXPLAINS_LOSS = ("DS102", "DS104", "BC101")


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
class HealthReport:
    """Every check's result; the database is healthy when none failed or errored."""

    results: tuple[CheckResult, ...]

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

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [r.to_dict() for r in self.results]}


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
    _engine: sa.Engine | None = field(default=None, init=False, repr=False)

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
            self.backend.limit_statement_time(self.connection, self.settings.check_timeout)
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

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


Check = Callable[[CheckContext], Any]


# -- built-in checks ----------------------------------------------------------------

def integrity(ctx: CheckContext) -> tuple[bool, str]:
    """The engine's own integrity checks (SQLite: integrity_check or quick_check, and
    foreign_key_check; PostgreSQL: no constraint left NOT VALID, no invalid index). A
    migration that rebuilt a table can leave rows pointing at nothing; the application
    finds out much later, this check finds out now."""
    with ctx.backend_connection() as connection:
        problems = ctx.backend.integrity_problems(quick=ctx.settings.integrity == "quick",
                                                  connection=connection)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return False, f"{problems[0]}{more}"
    return True, "no problems found"


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


def drift(ctx: CheckContext) -> tuple[bool, str] | None:
    """The migrated schema matches the application's models (Alembic's
    compare_metadata against the `metadata` setting): a migration that forgot a column
    the code reads passes every other check and breaks the first request."""
    if not ctx.settings.metadata:
        return None
    heads = ctx.current_heads()
    if set(heads) != set(ctx.project.heads()):
        return None  # the models describe head; another revision is not expected to match
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    target = load_object(ctx.settings.metadata, "metadata")
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
    return False, f"schema differs from {ctx.settings.metadata}: {'; '.join(described[:3])}{more}"


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
    with ctx.backend_connection() as connection:
        after = ctx.backend.row_counts(connection=connection)
    problems, expected = [], []
    for table, before in sorted(ctx.before_counts.items()):
        if table == "alembic_version":
            continue
        now = after.get(table)
        if now is not None and now >= before:
            continue
        loss = (f"table {table} ({before} rows) is gone" if now is None
                else f"table {table} lost {before - now} of {before} rows")
        why = _explained(table, ctx.classifications)
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
    return True, f"no table lost rows ({len(ctx.before_counts)} tables compared)"


def _explained(table: str, classifications: Sequence[Any]) -> str | None:
    """How the run said this table would lose rows, or None: a revision said it would
    drop, delete from or rename it; or its author acknowledged a revision that touches
    it (or tables it cannot name)."""
    word = re.compile(rf"(?<![\w.]){re.escape(table)}(?![\w])")
    for c in classifications:
        acknowledged = getattr(c, "acknowledgement", None) is not None
        revision = getattr(c, "revision", None) or "?"
        for f in getattr(c, "findings", ()):
            named = getattr(f, "table", None)
            mentions = named == table or (named is None and bool(word.search(f.message)))
            if f.code in EXPLAINS_LOSS and mentions:
                return f"expected: revision {revision} says so ({f.code})"
            if acknowledged and (mentions or f.code == "UN101"):
                return f"expected and acknowledged in revision {revision} ({f.code})"
    return None


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


# -- the team's own checks -----------------------------------------------------------

def sql_check(name: str, query: str) -> Check:
    """A SQL assertion: passes when the query returns one true value, or no rows."""

    def check(ctx: CheckContext) -> tuple[bool, str]:
        with ctx.connect() as conn:
            ctx.backend.limit_statement_time(conn, ctx.settings.check_timeout)
            rows = conn.execute(sa.text(query)).fetchmany(6)
        if not rows:
            return True, "no rows"
        if len(rows) == 1 and len(rows[0]) == 1 and rows[0][0] in (True, 1):
            return True, "returned true"
        shown = ", ".join(repr(tuple(r)) for r in rows[:5])
        return False, f"returned {shown}{' ...' if len(rows) > 5 else ''}"

    check.__doc__ = f"sql_check.{name}"
    return check


def _timed_out(exc: BaseException) -> bool:
    """A statement cancelled by statement_timeout (SQLSTATE 57014)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "57014"


def python_check(path: str) -> Check:
    """A Python check by dotted path: called with a SQLAlchemy Connection; returns a
    bool, `(bool, detail)`, or None (passed), or raises."""

    def check(ctx: CheckContext) -> tuple[bool, str]:
        fn = load_object(path, "checks")
        with ctx.connect() as conn:
            return _interpret(fn(conn), path)

    return check


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
        with ctx.project.environment():  # the smoke check reads DATABASE_URL as env.py does
            for name, check in checks:
                if ctx.connection is not None and name in OWN_CONNECTION:
                    continue  # the plan made the undo a snapshot if one was configured
                results.append(_run_one(name, check, ctx, ctx.settings.check_timeout))
    finally:
        ctx.close()
    return HealthReport(tuple(results))


def _run_one(name: str, check: Check, ctx: CheckContext, timeout: float) -> CheckResult:
    outcome: dict[str, Any] = {}

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
        if "error" in outcome and _timed_out(outcome["error"]):
            return CheckResult(name, ERROR, duration, f"did not finish within {timeout:g}s (check_timeout)")
    else:
        # In the caller's context: env.py and checks may read context-local state the
        # caller set up (Flask's app context, a request-scoped session, contextvars).
        worker = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                                  name=f"check-{name}", daemon=True)
        worker.start()
        worker.join(timeout or None)
        duration = time.perf_counter() - started
    if ctx.connection is None and worker.is_alive():
        return CheckResult(name, ERROR, duration, f"did not finish within {timeout:g}s (check_timeout)")
    if "error" in outcome:
        exc = outcome["error"]
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return CheckResult(name, ERROR, duration,
                           f"could not run: {type(exc).__name__}: {message[0] if message else ''}")
    value = outcome.get("value")
    if value is None:
        return CheckResult(name, SKIPPED, duration, "not configured or not applicable")
    passed, detail = value
    return CheckResult(name, PASSED if passed else FAILED, duration, detail)
