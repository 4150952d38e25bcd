"""`flask safeguard ...`: safeguard for Flask-Migrate projects.

Flask-Migrate builds Alembic's Config in code (its `migrations/alembic.ini` has no
`script_location`) and its env.py reads `current_app`, so neither `alembic` nor
`safeguard` can run it as it stands. This module reads the application's Flask-Migrate
extension (`app.extensions["migrate"]`) and builds the Config exactly as `flask db`
does (the migrations directory, `-x` arguments, `@migrate.configure` callbacks), then
hands safeguard a `Host` (see host.py) whose context is the application context: every
env.py call and every health check runs inside it, on whatever thread runs it.

The commands are safeguard's own (same options, output, `--json` and exit codes):
the `flask safeguard` group only replaces the global `-c/--config` and `--url` with
Flask-Migrate's `-d/--directory` and `-x/--x-arg`; the database is the one the
application's engine names. Flask's CLI finds the group through the `flask.commands`
entry point. From Python:

    from safeguard.flask import load_settings
    import safeguard

    safeguard.migrate(load_settings(app), "head")

This is the only module of safeguard that imports Flask (the `flask` extra).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence, cast

import click

try:
    from flask import Flask, current_app
    from flask.cli import with_appcontext
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("safeguard.flask needs Flask and Flask-Migrate: "
                      "pip install 'alembic-safeguard[flask]'") from exc

from . import config as config_
from .alembic_output import silence_alembic_info
from .cli import main as safeguard_main
from .cli.base import Cli, configure_logging
from .config import Settings
from .errors import ConfigError
from .host import Host

#: The options of the `safeguard` group that mean the same under `flask safeguard`.
SHARED_OPTIONS = ("json_", "verbose", "quiet")


def load_settings(app: Flask | None = None, *, directory: str | os.PathLike[str] | None = None,
                  x_arg: Sequence[str] = (), **flags: Any) -> Settings:
    """Settings for the Flask-Migrate project of ``app`` (default: the current app).

    Configuration is read as for any project (the `[safeguard]` section of the
    migrations directory's alembic.ini, `SAFEGUARD_*` variables, ``flags``); the
    database is the one the application's engine connects to, so `DATABASE_URL` is not
    consulted (the application has read it already, if it uses it)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    extension = _extension(app)
    folder = Path(str(directory or extension.directory))
    ini = folder / "alembic.ini"
    if not ini.is_file():
        raise ConfigError(f"{ini} not found: no Flask-Migrate repository there "
                          "(run `flask db init`, or pass -d/--directory)")
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ALEMBIC_CONFIG")}
    settings = config_.load_settings(ini, environ=environ, **flags)
    return replace(settings, host=host_for(app, directory=directory, x_arg=x_arg))


def host_for(app: Flask, *, directory: str | os.PathLike[str] | None = None,
             x_arg: Sequence[str] = ()) -> Host:
    """The Host for ``app``'s Flask-Migrate project (see host.py)."""
    extension = _extension(app)
    compare = {key: value for key, value in extension.configure_args.items()
               if key.startswith("compare_")}

    def alembic_config() -> Any:
        # Called inside the application context (Project enters the Host's context):
        # Flask-Migrate's get_config reads flask.g.
        return extension.migrate.get_config(None if directory is None else str(directory),
                                            x_arg=list(x_arg))

    def metadata() -> Any:
        # As Flask-Migrate's env.py (get_metadata): the default bind's metadata.
        db = extension.db
        metadatas = getattr(db, "metadatas", None)  # Flask-SQLAlchemy 3
        return metadatas[None] if metadatas is not None else db.metadata

    return Host(name="Flask-Migrate", alembic_config=alembic_config,
                context=lambda: _application_context(app), compare=compare,
                metadata=metadata, metadata_name="Flask-Migrate's db.metadata",
                aim=lambda url: _engine_aimed_at(app, url))


@contextlib.contextmanager
def _application_context(app: Flask) -> Iterator[None]:
    """The application context, and no connection left open in the app's pools after it.

    Flask-Migrate's env.py connects through the application's engine, whose pool keeps
    the connection after env.py returns. A restore replaces the SQLite file or the
    PostgreSQL database under it: a pooled connection would go on reading the old file,
    or be a session the restore has to wait for. Each env.py call leaves no connection
    behind, as the NullPool of a plain Alembic env.py does.

    Flask-Migrate's env.py also calls ``fileConfig()``, which disables every logger its
    alembic.ini does not name, safeguard's among them: the lines of `-v` and each job's
    outcome under `flask safeguard schedule` would vanish after the first env.py call.
    Those loggers are left as they were."""
    ours = [logger for name, logger in logging.root.manager.loggerDict.items()
            if name.split(".")[0] == "safeguard" and isinstance(logger, logging.Logger)]
    disabled = [logger.disabled for logger in ours]
    with app.app_context():
        try:
            yield
        finally:
            _dispose_engines(app)
            for logger, was in zip(ours, disabled):
                logger.disabled = was


@contextlib.contextmanager
def _engine_aimed_at(app: Flask, url: str) -> Iterator[None]:
    """The application's default engine connects to ``url`` in the body (a rehearsal's
    copy), and is the application's own again after it.

    Flask-Migrate's env.py migrates through ``db.engine`` (and sets sqlalchemy.url from
    it), the smoke check through ``db.session``: both read Flask-SQLAlchemy 3's engine
    map of the application on every call, so replacing its default entry redirects
    them all. The copy's engine takes the application's SQLALCHEMY_ENGINE_OPTIONS. With
    an older Flask-SQLAlchemy nothing is redirected, and the rehearsal's own check that
    env.py follows the copy refuses it (nothing is copied or run)."""
    db = _extension(app).db
    with app.app_context():
        engines = getattr(db, "engines", None)
    if not isinstance(engines, MutableMapping) or None not in engines:
        yield
        return
    import sqlalchemy as sa

    own = engines[None]
    aimed = sa.create_engine(url, **dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}))
    engines[None] = aimed
    try:
        yield
    finally:
        engines[None] = own
        aimed.dispose()


def _dispose_engines(app: Flask) -> None:
    db = _extension(app).db
    engines = getattr(db, "engines", None)  # Flask-SQLAlchemy 3: every bind's engine
    if engines is None:
        engines = {None: db.get_engine()} if hasattr(db, "get_engine") else {}
    for engine in engines.values():
        engine.dispose()


def _extension(app: Flask) -> Any:
    extension = app.extensions.get("migrate")
    if extension is None:
        raise ConfigError(f"the application {app.name!r} has no Flask-Migrate extension "
                          "(Migrate(app, db)): nothing for `flask safeguard` to guard")
    return extension


# -- the command line --------------------------------------------------------------------

@dataclass
class FlaskCli(Cli):
    """The global options of `flask safeguard`: Flask-Migrate's, in place of -c/--url."""

    app: Any = None
    directory: str | None = None
    x_arg: tuple[str, ...] = ()

    def settings(self, **flags: Any) -> Settings:
        return load_settings(self.app, directory=self.directory, x_arg=self.x_arg, **flags)


@click.group("safeguard", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-d", "--directory", metavar="PATH",
              help="Migration script directory (default: the app's Flask-Migrate directory, "
                   "usually migrations).")
@click.option("-x", "--x-arg", multiple=True, metavar="ARG",
              help="Additional arguments consumed by custom env.py scripts (as `flask db -x`).")
@with_appcontext
@click.pass_context
def cli(ctx: click.Context, directory: str | None, x_arg: tuple[str, ...], json_: bool,
        verbose: int, quiet: bool) -> None:
    """Run the app's Flask-Migrate migrations guarded by safeguard: a verified snapshot
    before anything that can lose data, health checks after, an automatic restore when
    either fails.

    Use `flask safeguard upgrade` where you used `flask db upgrade`.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ctx.obj = FlaskCli(app=app, directory=directory, x_arg=x_arg, json=json_,
                       verbosity=-1 if quiet else verbose)
    configure_logging(ctx.obj.verbosity)
    if quiet:
        silence_alembic_info()


cli.params.extend(p for p in safeguard_main.params if p.name in SHARED_OPTIONS)
_ctx = click.Context(safeguard_main)
for _name in safeguard_main.list_commands(_ctx):
    cli.add_command(cast(click.Command, safeguard_main.get_command(_ctx, _name)), _name)
