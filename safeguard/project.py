"""The Alembic project: its Config, its script directory, and the database its env.py
connects to.

safeguard never re-implements what env.py does. To learn which database a project
migrates, it runs the project's own env.py the way `alembic current` does (an
``EnvironmentContext`` with ``dont_mutate=True`` and a function that returns no steps)
and reads the connection env.py configured. A run's revisions are applied in one pass
of env.py, as `alembic upgrade` does it, with Alembic's ``on_version_apply`` hook
reporting each revision done, so the project's env.py runs unmodified.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import MultipleHeads, ResolutionError, RevisionError
from alembic.util import CommandError
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url

from alembic import command, util

from . import loggers
from .config import Settings
from .credentials import public_url
from .errors import (
    ConfigError,
    DatabaseMismatchError,
    DatabaseMissingError,
    MultipleHeadsError,
    RefusedError,
    SafeguardError,
    UnknownRevisionError,
)
from .footprint import StatementLog
from .identity import held_to, identity_of


@dataclass(frozen=True)
class DatabaseState:
    """What env.py connected to, and the revision(s) stamped there."""

    url: URL
    heads: tuple[str, ...]

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden: the only form safeguard ever prints."""
        return public_url(self.url)

    @property
    def empty_file(self) -> bool:
        """A SQLite file of zero bytes (and no WAL): what connecting to a path that did
        not exist leaves behind, so a wrong path rather than a database."""
        path = self.url.database if self.dialect == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return False
        return all(not os.path.exists(p) or os.path.getsize(p) == 0 for p in (path, path + "-wal"))


@dataclass(frozen=True)
class Step:
    """One revision to apply, in one direction."""

    revision: str
    down_revision: str | tuple[str, ...] | None
    direction: str  # "upgrade" | "downgrade"
    doc: str
    path: str

    @property
    def arrow(self) -> str:
        """`a -> b` as Alembic prints it."""
        down = format_revs(self.down_revision)
        if self.direction == "upgrade":
            return f"{down} -> {self.revision}"
        return f"{self.revision} -> {down}"


def format_revs(revs: str | Sequence[str] | None) -> str:
    """Revisions as people read them: comma-separated, 'base' for none."""
    if not revs:
        return "base"
    if isinstance(revs, str):
        return revs
    return ", ".join(revs)


class Project:
    """An Alembic project as safeguard sees it: ini file, scripts, env.py."""

    def __init__(self, settings: Settings, *, stdout: io.TextIOBase | None = None) -> None:
        self.settings = settings
        ini, toml = settings.ini_file, settings.toml_file
        self.config = Config(str(ini) if ini else None, toml_file=str(toml) if toml else None,
                             stdout=stdout or io.StringIO())
        #: The database every connection env.py makes must go to: the one --url or
        #: DATABASE_URL names, else the one env.py connected to the first time.
        self.identity: str | None = None
        self._named = False
        if settings.url:
            self.identity = identity_of(_check_url(settings.url))
            self._named = True
            # An unmodified env.py reads its URL either from sqlalchemy.url or from
            # DATABASE_URL (as the example app does); set both so --url reaches either.
            os.environ["DATABASE_URL"] = settings.url
            self.config.set_main_option("sqlalchemy.url", settings.url.replace("%", "%%"))
        try:
            self.script = ScriptDirectory.from_config(self.config)
        except (CommandError, configparser.Error) as exc:
            # configparser: an interpolation in [alembic] that names nothing.
            raise ConfigError(f"{settings.config_file}: {_first_line(exc)}") from exc

    # -- reading -----------------------------------------------------------------

    def database(self, *, create: bool = False, check_known: bool = True) -> DatabaseState:
        """Run env.py without migrating and report the database it connects to.

        A SQLite file that does not exist is refused (connecting would create an empty
        one) unless ``create`` is true. A revision the scripts do not know is refused
        unless ``check_known`` is false (restoring an old snapshot may bring one back).
        """
        captured: dict[str, object] = {}

        def probe(rev: object, context: object) -> list:
            migration_context = context  # alembic passes the MigrationContext here
            captured["heads"] = tuple(migration_context.get_current_heads())
            connection = migration_context.connection
            if connection is None:
                raise ConfigError("env.py ran in offline mode; safeguard needs a connection")
            captured["url"] = connection.engine.url
            return []

        guard = contextlib.nullcontext() if create else _refuse_missing_sqlite_file()
        with self._held("reading the database's revision"), guard, quiet_alembic(), \
                _alembic_errors(self._empty_url_hint()):
            with _watched(EnvironmentContext(self.config, self.script, fn=probe, dont_mutate=True)):
                self.script.run_env()
        if "url" not in captured:
            raise ConfigError("env.py did not configure a connection (is run_migrations_online called?)")
        state = DatabaseState(url=captured["url"], heads=captured["heads"])  # type: ignore[arg-type]
        self._hold(state.url)
        if check_known:
            self._check_known(state.heads)
        return state

    def _hold(self, url: URL) -> None:
        """Remember the first database env.py connected to, and check each later one
        (a connection do_connect did not see: a pooled one, a driver with no backend)."""
        found = identity_of(url)
        if self.identity is None:
            self.identity = found
        elif found != self.identity:
            raise DatabaseMismatchError(self._mismatch("reading the database's revision", found))

    def _held(self, action: str) -> contextlib.AbstractContextManager:
        """While env.py runs for ``action``, refuse a connection to any other database
        than the one this project is held to (once it is known)."""
        if self.identity is None:
            return contextlib.nullcontext()
        return held_to(self.identity, lambda actual: self._mismatch(action, actual))

    def _mismatch(self, action: str, actual: str) -> str:
        if self._named:
            return (f"env.py connected to {actual} while {action}, but --url/DATABASE_URL "
                    f"names {self.identity}: safeguard will not snapshot one database and migrate "
                    "another (make env.py use that URL, or leave out --url and DATABASE_URL "
                    "to use env.py's own)")
        return (f"env.py connected to {actual} while {action}, but earlier in this run it "
                f"connected to {self.identity}, the database safeguard is working on: "
                f"refused before any statement ran on {actual}")

    def _empty_url_hint(self) -> str | None:
        """What to do when env.py fails on an empty sqlalchemy.url and none was given."""
        if self._named or self.config.get_main_option("sqlalchemy.url"):
            return None
        return ("sqlalchemy.url is empty and no URL was given: pass --url or set DATABASE_URL "
                "(or make env.py find its URL)")

    def unknown_revisions(self, revisions: Sequence[str]) -> list[str]:
        """The revisions in ``revisions`` that the scripts do not know."""
        unknown = []
        for rev in revisions:
            try:
                self.script.get_revision(rev)
            except (ResolutionError, CommandError):
                unknown.append(rev)
        return unknown

    def _check_known(self, heads: Sequence[str]) -> None:
        for head in heads:
            try:
                self.script.get_revision(head)
            except (ResolutionError, CommandError) as exc:
                raise UnknownRevisionError(
                    f"the database is at revision {head}, which the scripts in "
                    f"{self.script.dir} do not know (a missing revision file, or another "
                    f"branch's database?)"
                ) from exc

    def heads(self) -> tuple[str, ...]:
        """The head revision(s) of the scripts."""
        return tuple(self.script.get_heads())

    def revision(self, rev: str) -> Script:
        """The script for a revision id (or unique prefix, or 'head' when there is one)."""
        _refuse_empty(rev)
        # The revision map, not ScriptDirectory.get_revision: that one reports an
        # ambiguous prefix as "Can't locate revision", which sends people looking for
        # a missing file.
        with _alembic_errors():
            script = self.script.revision_map.get_revision(rev)
        if script is None:
            raise UnknownRevisionError(f"unknown revision {rev!r}")
        return script  # type: ignore[return-value]

    def history(self, base: str = "base", head: str = "heads") -> list[Script]:
        """The revisions from ``head`` down to ``base``, newest first (`alembic history -r`)."""
        with _alembic_errors():
            return list(self.script.revision_map.iterate_revisions(  # type: ignore[arg-type]
                head, base, inclusive=True, assert_relative_length=False))

    def steps(self, target: str, current: Sequence[str], direction: str) -> tuple[Step, ...]:
        """The revisions between ``current`` and ``target``, in the order they run."""
        _refuse_empty(target)
        if direction == "upgrade" and target == "head" and len(self.heads()) > 1:
            raise MultipleHeadsError(
                f"the scripts have {len(self.heads())} heads ({', '.join(self.heads())}); "
                "name one, or use 'heads' to upgrade them all (merge them with "
                "`alembic merge` to make one)"
            )
        with _alembic_errors():
            if direction == "upgrade":
                scripts = list(reversed(list(
                    self.script.iterate_revisions(target, tuple(current), implicit_base=True)
                )))
            else:
                scripts = list(self.script.iterate_revisions(
                    tuple(current), target, select_for_downgrade=True
                ))
        return tuple(_step(s, direction) for s in scripts)

    # -- changing ----------------------------------------------------------------

    def apply_run(self, target: str, direction: str, applied: Callable[[str], None],
                  statements: StatementLog | None = None) -> None:
        """Run a whole run's revisions in one pass of the project's own env.py, exactly
        as `alembic upgrade TARGET` does (one transaction for all of them where env.py
        and the dialect make it so), calling ``applied(revision)`` as Alembic reports
        each one done. Whatever the migration raises goes up unchanged, for the report
        to name.

        The per-revision report comes from Alembic's own ``on_version_apply`` hook, added
        to whatever env.py passes to ``context.configure`` (see _Watched); the revision
        files are loaded once, by the ScriptDirectory already read for the plan.
        ``statements`` records what runs on the connection env.py configures (the run's
        footprint, see footprint.py)."""
        script = self.script

        def revisions(rev: Any, context: Any) -> Any:
            if direction == "upgrade":
                return script._upgrade_revs(target, rev)
            return script._downgrade_revs(target, rev)

        def report(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
            applied(step.up_revision_id)

        with self._held(f"{direction[:-1]}ing to {target}"), _filtered(_DropSetupNoise()), \
                alembic_output_to_stderr():
            env = EnvironmentContext(self.config, script, fn=revisions, destination_rev=target)
            with _watched(env, report, statements):
                script.run_env()

    def stamp(self, revisions: Sequence[str]) -> None:
        """Set alembic_version to exactly ``revisions`` (base when empty)."""
        with self._held("stamping"), _alembic_errors(), alembic_output_to_stderr(), \
                loggers.kept():
            command.stamp(self.config, list(revisions) or "base", purge=True)

    def offline_sql(self, target: str, direction: str, out: io.TextIOBase) -> None:
        """Alembic's --sql mode: print the SQL, touch no database."""
        self.config.stdout = out  # type: ignore[misc]
        self.config.output_buffer = out  # type: ignore[attr-defined]
        with _alembic_errors():
            if direction == "upgrade":
                command.upgrade(self.config, target, sql=True)
            else:
                command.downgrade(self.config, target, sql=True)


def _watched(env: EnvironmentContext, on_applied: Callable[..., None] | None = None,
             statements: StatementLog | None = None) -> EnvironmentContext:
    """``env`` with one ``on_version_apply`` callback of safeguard's added after env.py's
    own, whatever env.py passes to ``context.configure(...)``, the statements run on the
    connection it passes recorded in ``statements``, and safeguard's loggers enabled
    again after env.py's logging setup (see loggers.py). The override is on the
    instance: Alembic's ``context`` module proxies its functions to the installed
    instance's methods, and its attributes by class, so a subclass would lose them."""
    configure = env.configure
    kept = loggers.Kept()

    def configure_watched(*args: Any, on_version_apply: Any = None, **kwargs: Any) -> None:
        kept.restore()
        if statements is not None:
            statements.watch(kwargs.get("connection"))
        theirs = list(util.to_tuple(on_version_apply, default=()))
        ours = [on_applied] if on_applied is not None else []
        configure(*args, on_version_apply=[*theirs, *ours], **kwargs)

    env.configure = configure_watched  # type: ignore[method-assign]
    return _EnvRun(env, kept)


class _EnvRun(contextlib.AbstractContextManager):
    """The EnvironmentContext, entered as itself, and safeguard's loggers as they were
    before env.py ran once it is done."""

    def __init__(self, env: EnvironmentContext, kept: "loggers.Kept") -> None:
        self.env, self.kept = env, kept

    def __enter__(self) -> EnvironmentContext:
        return self.env.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self.env.__exit__(*exc)
        finally:
            self.kept.restore()


def _refuse_empty(rev: str) -> None:
    # Alembic would fail on an assertion deep inside; say what is wrong instead.
    if not rev.strip():
        raise UnknownRevisionError("empty revision: name one (head, heads, a revision id or "
                                   "unique prefix, +N, -N, base)")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _step(script: Script, direction: str) -> Step:
    return Step(
        revision=script.revision,
        down_revision=script.down_revision,
        direction=direction,
        doc=(script.doc or "").strip(),
        path=script.path,
    )


def alembic_output_to_stderr() -> contextlib.AbstractContextManager:
    """Alembic (and a migration's own print()) write status lines to stdout; under
    --json stdout carries one JSON document and nothing else."""
    return contextlib.redirect_stdout(sys.stderr)


class _DropSetupNoise(logging.Filter):
    """Keep Alembic's "Running upgrade a -> b" lines; drop the two it prints before each
    (the implementation and transactional-DDL lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


class _DropInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


_ALEMBIC_INFO_LOGGERS = ("alembic.runtime.migration", "alembic.runtime.plugins")


def silence_alembic_info() -> None:
    """Drop Alembic's INFO lines for the rest of the process (`safeguard -q`)."""
    for name in _ALEMBIC_INFO_LOGGERS:
        logging.getLogger(name).addFilter(_DropInfo())


def quiet_alembic() -> contextlib.AbstractContextManager:
    """Silence Alembic's INFO lines ("Context impl SQLiteImpl.") while safeguard only
    looks: it reads the revision far more often than a person would."""
    return _filtered(_DropInfo())


@contextlib.contextmanager
def _filtered(log_filter: logging.Filter) -> Iterator[None]:
    """A filter on Alembic's loggers for the body. Filters on loggers survive env.py's
    fileConfig(), which resets handlers and levels."""
    loggers = [logging.getLogger(name) for name in _ALEMBIC_INFO_LOGGERS]
    for logger in loggers:
        logger.addFilter(log_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(log_filter)


def _check_url(url: str) -> URL:
    """Refuse a URL that cannot be parsed or that no backend supports, before env.py
    tries to import a driver for it."""
    from .backends import backend_for

    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        # The message of ArgumentError repeats the URL, password and all: not shown.
        raise ConfigError(
            "invalid database URL (expected e.g. sqlite:///path/to/file.db or "
            "postgresql://user@host/dbname)"
        ) from exc
    backend_for(parsed)
    return parsed


@contextlib.contextmanager
def _refuse_missing_sqlite_file() -> Iterator[None]:
    """Refuse to connect to a SQLite path that does not exist (SQLite would create it)."""

    def check(dialect, conn_rec, cargs, cparams):  # noqa: ANN001 - SQLAlchemy's signature
        if dialect.name != "sqlite":
            return None
        target = cargs[0] if cargs else cparams.get("database")
        if not target or target == ":memory:" or str(target).startswith("file:"):
            return None
        if not os.path.exists(target):
            raise DatabaseMissingError(
                f"database file not found: {target} (check DATABASE_URL / --url, "
                "or pass --create to start a new database)"
            )
        if not os.access(target, os.R_OK | os.W_OK):
            raise RefusedError(f"database file is not readable and writable: {target}")
        return None

    event.listen(Engine, "do_connect", check)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", check)


@contextlib.contextmanager
def _alembic_errors(hint: str | None = None) -> Iterator[None]:
    """Translate Alembic's errors into safeguard's at this one boundary. ``hint`` is
    the likely cause when env.py itself fails."""
    try:
        yield
    except SafeguardError:
        raise
    except MultipleHeads as exc:
        raise MultipleHeadsError(f"multiple heads: {exc}; name the target revision") from exc
    except (ResolutionError, RevisionError) as exc:
        raise UnknownRevisionError(str(exc)) from exc
    except sa_exc.DBAPIError as exc:
        raise RefusedError(f"cannot read the database: {_first_line(exc.orig)}") from exc
    except sa_exc.ArgumentError as exc:
        # create_engine() in env.py refusing the URL (e.g. credentials in a SQLite URL);
        # SQLAlchemy's message shows the URL with its password masked.
        raise ConfigError(f"invalid database URL: {_first_line(exc)}") from exc
    except CommandError as exc:
        message = str(exc)
        if "Multiple head" in message:
            raise MultipleHeadsError(message) from exc
        if "Can't locate revision" in message or "No such revision" in message \
                or "is not a valid" in message or "Relative revision" in message:
            raise UnknownRevisionError(message) from exc
        raise ConfigError(message) from exc
    except (Exception, SystemExit) as exc:  # env.py may sys.exit() on a missing setting
        if hint and (isinstance(exc, sa_exc.ArgumentError) or "url" in str(exc).lower()):
            raise ConfigError(f"env.py failed ({type(exc).__name__}: {_first_line(exc)}): {hint}") from exc
        raise SafeguardError(f"env.py failed: {type(exc).__name__}: {_first_line(exc)}") from exc

