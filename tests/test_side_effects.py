"""The library leaves its caller's process as it found it: a program (or a test suite)
that calls the Python API finds its environment variables, its loggers and
SQLAlchemy's global event registry as they were, call after call, database after
database."""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import subprocess
import sys

import pytest
from conftest import HEAD, REPO, SEED_AT, ProjectDir, version_of
from sqlalchemy.event import registry

import safeguard
from safeguard import api

#: What a logger looks like before anyone configures it.
UNTOUCHED = (logging.NOTSET, True, False, (), ())


def logging_state() -> dict[str, tuple]:
    """Every logger's level, propagation, disabled flag, handlers and filters."""
    loggers = {"": logging.getLogger()}
    loggers.update((name, logger) for name, logger in logging.Logger.manager.loggerDict.items()
                   if isinstance(logger, logging.Logger))
    return {name: (logger.level, logger.propagate, logger.disabled, tuple(logger.handlers),
                   tuple(logger.filters)) for name, logger in loggers.items()}


def listeners() -> set[tuple]:
    """The keys of SQLAlchemy's global registry of event listeners."""
    gc.collect()  # engines env.py created and dropped take their own listeners along
    return set(registry._key_to_collection)


def example_project(root) -> ProjectDir:
    """The example project, without the logging setup its env.py does (fileConfig is
    the project's own choice, made in its own code; safeguard's effects are measured)."""
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    env_py = root / "alembic" / "env.py"
    text = env_py.read_text()
    assert "fileConfig(config.config_file_name" in text
    env_py.write_text(text.replace("fileConfig(config.config_file_name",
                                   "(lambda *a, **k: None)(config.config_file_name"))
    return ProjectDir(root)


def use_the_api(project: ProjectDir) -> None:
    """A guarded run with a snapshot, the checks, a restore and a recover."""
    settings = safeguard.load_settings(str(project.ini), url=project.url, policy="always")
    safeguard.migrate(settings, SEED_AT, create=True)
    result = safeguard.migrate(settings, "head")
    assert result.outcome == "migrated" and result.snapshot is not None
    assert safeguard.check(settings).ok
    api.restore(settings, result.snapshot.id)
    assert version_of(project.db) == [SEED_AT]
    assert safeguard.recover(settings) == []
    assert result.snapshot.id in [s.id for s in safeguard.list_snapshots(settings)]
    assert safeguard.current(settings).heads == (SEED_AT,)


def test_the_python_api_leaves_the_process_as_it_found_it(tmp_path):
    # conftest's DATABASE_URL (./poolula.db) plays the caller's own setting.
    environ = dict(os.environ)
    assert environ["DATABASE_URL"] == "sqlite:///./poolula.db"
    first, second = example_project(tmp_path / "first"), example_project(tmp_path / "second")
    use_the_api(first)  # warms every lazy import, whose module-level loggers are new
    loggers, registered = logging_state(), listeners()

    use_the_api(second)
    safeguard.migrate(safeguard.load_settings(str(first.ini), url=first.url), "head")

    assert dict(os.environ) == environ
    after = logging_state()
    assert {name: after[name] for name in loggers} == loggers
    assert all(after[name] == UNTOUCHED for name in after.keys() - loggers.keys())
    assert listeners() == registered
    assert version_of(first.db) == [HEAD] and version_of(second.db) == [SEED_AT]


def test_importing_safeguard_changes_no_logger_or_environment_variable():
    """In a fresh interpreter, before and after importing the library and the CLI
    (after the libraries it builds on, whose own import-time settings are theirs:
    SQLAlchemy's WARNING level, Alembic's NullHandler)."""
    script = """
import json, logging, os, sys
import alembic.command, apscheduler, click, sqlalchemy, sqlglot
def state():
    return {n: [l.level, l.propagate, l.disabled, len(l.handlers), len(l.filters)]
            for n, l in [("", logging.getLogger())] + list(logging.Logger.manager.loggerDict.items())
            if isinstance(l, logging.Logger)}
environ, before = dict(os.environ), state()
import safeguard.api, safeguard.cli, safeguard.classify.sql
after = state()
changed = {n: after[n] for n in after if after[n] != before.get(n, [0, True, False, 0, 0])}
print(json.dumps({"environ": dict(os.environ) == environ, "changed": changed}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"environ": True, "changed": {}}


@pytest.mark.postgres
def test_on_postgresql_the_api_leaves_no_application_name_behind(tmp_path, pg_server, monkeypatch):
    """PGAPPNAME names safeguard's sessions while env.py runs, and only then."""
    if pg_server.bindir:
        monkeypatch.setenv("SAFEGUARD_PG_BINDIR", pg_server.bindir)
    monkeypatch.delenv("PGAPPNAME", raising=False)
    environ = dict(os.environ)
    names = [pg_server.create_database(), pg_server.create_database()]
    try:
        for n, name in enumerate(names):
            project = example_project(tmp_path / f"project{n}")
            settings = safeguard.load_settings(str(project.ini), url=pg_server.url_for(name),
                                               policy="always")
            safeguard.migrate(settings, SEED_AT)
            result = safeguard.migrate(settings, "head")
            assert result.snapshot is not None
            api.restore(settings, result.snapshot.id)
            assert safeguard.current(settings).heads == (SEED_AT,)
            assert dict(os.environ) == environ
    finally:
        for name in names:
            pg_server.drop_database(name)
