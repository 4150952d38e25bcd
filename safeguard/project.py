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
import copy
import io
import os
import traceback
from typing import Any, Callable, Iterator, Sequence, TextIO

from alembic import command, util
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from . import loggers
from .alembic_errors import alembic_errors, first_line
from .alembic_output import alembic_output_to_stderr, quiet_alembic, without_setup_noise
from .backends import backend_for
from .backends.sqlite import refuse_missing_file
from .config import Settings
from .credentials import public_url
from .environ import scoped_environ
from .errors import (
    ConfigError,
    DatabaseMismatchError,
    MultipleHeadsError,
    RefusedError,
    SeveralDatabasesError,
    UnknownRevisionError,
)
from .footprint import StatementLog
from .host import hosted
from .identity import held_to, identity_of, same_database
from .revisions import DatabaseState, Direction, Step
from .undo import env_transaction


class Project:
    """An Alembic project as safeguard sees it: ini file, scripts, env.py."""

    def __init__(self, settings: Settings, *, stdout: TextIO | None = None) -> None:
        self.settings = settings
        if settings.host is not None:
            with self.hosted():
                self.config = settings.host.alembic_config()
            self.config.stdout = stdout or io.StringIO()
        elif settings.alembic_config is not None:
            self.config = _own_copy(settings.alembic_config, stdout or io.StringIO())
        else:
            ini, toml = settings.ini_file, settings.toml_file
            self.config = Config(str(ini) if ini else None, toml_file=str(toml) if toml else None,
                                 stdout=stdout or io.StringIO())
        #: The database every connection env.py makes must go to: the one --url or
        #: DATABASE_URL names, else the one env.py connected to the first time.
        self.identity: str | None = None
        self._named = False
        #: The environment env.py runs in (see environment()).
        self._environ: dict[str, str] = {}
        if settings.url:
            url = _check_url(settings.url)
            self.identity = identity_of(url)
            self._named = True
            # An unmodified env.py reads its URL either from sqlalchemy.url or from
            # DATABASE_URL (as the example app does): both name --url while it runs.
            self._environ = {"DATABASE_URL": settings.url, **backend_for(url).client_environ()}
            self.config.set_main_option("sqlalchemy.url", settings.url.replace("%", "%%"))
        try:
            self.script = ScriptDirectory.from_config(self.config)
        except (CommandError, configparser.Error) as exc:
            # configparser: an interpolation in [alembic] that names nothing.
            raise ConfigError(f"{settings.config_file}: {first_line(exc)}") from exc

    def environment(self) -> contextlib.AbstractContextManager:
        """The process environment the project's own code (env.py, the application's
        smoke check) runs in: DATABASE_URL naming --url, and the engine's client
        variables (PostgreSQL: the application name `recover` finds sessions by); the
        caller's environment comes back when the body ends."""
        return scoped_environ(self._environ)
    def hosted(self) -> contextlib.AbstractContextManager:
        """The context env.py runs in: the hosting framework's (see host.py), if any."""
        return hosted(self.settings.host)

    # -- reading -----------------------------------------------------------------

    def database(self, *, create: bool = False, check_known: bool = True) -> DatabaseState:
        """Run env.py without migrating and report the database it connects to.

        A SQLite file that does not exist is refused (connecting would create an empty
        one) unless ``create`` is true. A revision the scripts do not know is refused
        unless ``check_known`` is false (restoring an old snapshot may bring one back).
        """
        self._refuse_several_databases()
        captured: dict[str, object] = {}

        def probe(rev: object, migration_context: MigrationContext) -> list:
            connection = migration_context.connection
            if connection is None:
                raise ConfigError("env.py ran in offline mode; safeguard needs a connection")
            first = captured.get("url")
            if isinstance(first, URL) and not same_database(identity_of(connection.engine.url),
                                                            identity_of(first)):
                raise SeveralDatabasesError(
                    f"env.py migrates several databases in one run ({public_url(first)} "
                    f"and {public_url(connection.engine.url)}); safeguard guards one database "
                    "per run")
            captured["heads"] = tuple(migration_context.get_current_heads())
            captured["url"] = connection.engine.url
            captured["transaction"] = env_transaction(migration_context)
            return []

        guard = contextlib.nullcontext() if create else refuse_missing_file()
        with self.environment(), self._held("reading the database's revision"), guard, \
                quiet_alembic(), alembic_errors(self._empty_url_hint()), self.hosted():
            with _watched(EnvironmentContext(self.config, self.script, fn=probe, dont_mutate=True)):
                self.script.run_env()
        if "url" not in captured:
            raise ConfigError("env.py did not configure a connection (is run_migrations_online called?)")
        state = DatabaseState(url=captured["url"], heads=captured["heads"],  # type: ignore[arg-type]  # set by probe
                              transaction=captured["transaction"])  # type: ignore[arg-type]
        self._hold(state.url)
        if check_known:
            self._check_known(state.heads)
        return state

    def _refuse_several_databases(self) -> None:
        """Refuse, before env.py connects anywhere, a project made by `alembic init -t
        multidb`: its env.py migrates every database its `databases` option lists, in
        one run, and safeguard snapshots, checks and restores one database per run."""
        names = [n.strip() for n in (self.config.get_main_option("databases") or "").split(",")
                 if n.strip()]
        if len(names) < 2:
            return
        urls = ", ".join(f"{name}: {_section_url(self.config, name)}" for name in names)
        raise SeveralDatabasesError(
            f"{self.settings.config_file} is an `alembic init -t multidb` project: its env.py "
            f"migrates {len(names)} databases in one run ({urls}); safeguard guards one "
            "database per run (give each database a project of its own); nothing was done")

    def _hold(self, url: URL) -> None:
        """Remember the first database env.py connected to, and check each later one
        (a connection do_connect did not see: a pooled one, a driver with no backend)."""
        found = identity_of(url)
        if self.identity is None:
            self.identity = found
            try:
                self._environ = {**backend_for(url).client_environ(), **self._environ}
            except RefusedError:  # no backend: nothing of its own to set
                pass
        elif not same_database(found, self.identity):
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

    def scripts_problem(self) -> str | None:
        """Why the revision files cannot all be loaded (one does not parse, or fails to
        import), or None. A command that needs none of them (a restore) says this and
        goes on, where one that needs them fails."""
        try:
            self.script.revision_map.heads  # noqa: B018 - the first look imports every file
        except Exception as exc:  # whatever a revision file raises as it is imported
            return f"the revision files cannot be loaded: {_failing_file(exc, self.script.dir)}"
        return None

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
                with alembic_errors():  # the first look loads every revision file
                    self.script.get_revision(head)
            except UnknownRevisionError as exc:
                raise UnknownRevisionError(
                    f"the database is at revision {head}, which the scripts in "
                    f"{self.script.dir} do not know (a missing revision file, or another "
                    f"branch's database?)"
                ) from exc

    def heads(self) -> tuple[str, ...]:
        """The head revision(s) of the scripts."""
        with alembic_errors():
            return tuple(self.script.get_heads())

    def revision(self, rev: str) -> Script:
        """The script for a revision id (or unique prefix, or 'head' when there is one)."""
        _refuse_empty(rev)
        # The revision map, not ScriptDirectory.get_revision: that one reports an
        # ambiguous prefix as "Can't locate revision", which sends people looking for
        # a missing file.
        with alembic_errors():
            script = self.script.revision_map.get_revision(rev)
        if script is None:
            raise UnknownRevisionError(f"unknown revision {rev!r}")
        return script  # type: ignore[return-value]  # the map holds Scripts

    def history(self, base: str = "base", head: str = "heads") -> list[Script]:
        """The revisions from ``head`` down to ``base``, newest first (`alembic history -r`)."""
        with alembic_errors():
            return list(self.script.revision_map.iterate_revisions(  # type: ignore[arg-type]  # str ids
                head, base, inclusive=True, assert_relative_length=False))

    def steps(self, target: str, current: Sequence[str], direction: Direction) -> tuple[Step, ...]:
        """The revisions between ``current`` and ``target``, in the order they run."""
        _refuse_empty(target)
        if direction == "upgrade" and target == "head" and len(self.heads()) > 1:
            raise MultipleHeadsError(
                f"the scripts have {len(self.heads())} heads ({', '.join(self.heads())}); "
                "name one, or use 'heads' to upgrade them all (merge them with "
                "`alembic merge` to make one)"
            )
        with alembic_errors():
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

    def apply_run(self, target: str, direction: Direction, applied: Callable[[str], None],
                  statements: StatementLog | None = None, *,
                  before_commit: Callable[[Any], None] | None = None) -> None:
        """Run a whole run's revisions in one pass of the project's own env.py, exactly
        as `alembic upgrade TARGET` does (one transaction for all of them where env.py
        and the dialect make it so), calling ``applied(revision)`` as Alembic reports
        each one done. Whatever the migration raises goes up unchanged, for the report
        to name.

        The per-revision report comes from Alembic's own ``on_version_apply`` hook, added
        to whatever env.py passes to ``context.configure`` (see _Watched); the revision
        files are loaded once, by the ScriptDirectory already read for the plan.

        ``statements`` records what runs on the connection env.py configures (the run's
        footprint, see footprint.py).

        ``before_commit(migration_context)`` runs once the last revision has run, still
        inside env.py's transaction (see commit_gate.py); what it raises rolls the run back."""
        script = self.script

        def revisions(rev: Any, context: Any) -> Any:
            if direction == "upgrade":
                steps = script._upgrade_revs(target, rev)
            else:
                steps = script._downgrade_revs(target, rev)
            return steps if before_commit is None else _then(steps, lambda: before_commit(context))

        def report(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
            applied(step.up_revision_id)

        with self.environment(), self._held(f"{direction[:-1]}ing to {target}"), \
                without_setup_noise(), alembic_output_to_stderr(), self.hosted():
            env = EnvironmentContext(self.config, script, fn=revisions, destination_rev=target)
            with _watched(env, report, statements):
                script.run_env()

    def stamp(self, revisions: Sequence[str]) -> None:
        """Set alembic_version to exactly ``revisions`` (base when empty)."""
        with self.environment(), self._held("stamping"), alembic_errors(), \
                alembic_output_to_stderr(), self.hosted(), loggers.kept():
            command.stamp(self.config, list(revisions) or "base", purge=True)

    def offline_sql(self, target: str, direction: Direction, out: TextIO) -> None:
        """Alembic's --sql mode: print the SQL, touch no database."""
        self.config.stdout = out
        self.config.output_buffer = out
        with self.environment(), alembic_errors(), self.hosted():
            if direction == "upgrade":
                command.upgrade(self.config, target, sql=True)
            else:
                command.downgrade(self.config, target, sql=True)


def _failing_file(exc: BaseException, scripts: str) -> str:
    """Which revision file raised ``exc`` while it was imported, and how."""
    if isinstance(exc, SyntaxError):
        return f"{exc.filename}, line {exc.lineno}: {exc.msg}"
    inside = [frame.filename for frame in traceback.extract_tb(exc.__traceback__)
              if frame.filename.startswith(os.path.abspath(scripts) + os.sep)]
    where = f"{inside[-1]}: " if inside else ""
    return f"{where}{type(exc).__name__}: {first_line(exc)}"


def _then(steps: Sequence[Any], last: Callable[[], None]) -> Iterator[Any]:
    """``steps`` one by one, then ``last()``: Alembic asks for the next step only after
    the previous one ran and was stamped, so ``last`` runs after the whole run."""
    yield from steps
    last()


def _watched(env: EnvironmentContext, on_applied: Callable[..., None] | None = None,
             statements: StatementLog | None = None) -> "_EnvRun":
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
        # A list of callbacks, which Alembic accepts though it annotates one.
        kwargs["on_version_apply"] = [*theirs, *([on_applied] if on_applied is not None else [])]
        configure(*args, **kwargs)


    env.configure = configure_watched  # type: ignore[method-assign]  # see the docstring
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


def _own_copy(config: Config, stdout: TextIO) -> Config:
    """A copy of the application's Config that safeguard may change (the URL, where
    output goes) without changing the caller's; ``attributes`` (a connection the
    application hands to env.py) and ``cmd_opts`` are the caller's own."""
    own = copy.copy(config)
    own.__dict__["file_config"] = copy.deepcopy(config.file_config)
    own.stdout = stdout
    return own


def _section_url(config: Config, section: str) -> str:
    """The sqlalchemy.url of one database of a multidb project, password masked."""
    raw = config.get_section_option(section, "sqlalchemy.url")
    if not raw:
        return "no sqlalchemy.url"
    try:
        return public_url(make_url(raw))
    except sa_exc.ArgumentError:
        return "an unreadable sqlalchemy.url"


def _refuse_empty(rev: str) -> None:
    # Alembic would fail on an assertion deep inside; say what is wrong instead.
    if not rev.strip():
        raise UnknownRevisionError("empty revision: name one (head, heads, a revision id or "
                                   "unique prefix, +N, -N, base)")


def _step(script: Script, direction: Direction) -> Step:
    return Step(
        revision=script.revision,
        down_revision=_as_revs(script.down_revision),
        direction=direction,
        doc=(script.doc or "").strip(),
        path=script.path,
    )


def _check_url(url: str) -> URL:
    """Refuse a URL that cannot be parsed or that no backend supports, before env.py
    tries to import a driver for it."""
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


def _as_revs(revs: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    """A revision's parents as Step keeps them: one id, a tuple of ids, or None."""
    return revs if revs is None or isinstance(revs, str) else tuple(revs)
