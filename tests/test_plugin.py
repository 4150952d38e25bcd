"""The pytest plugin's ready tests, run against this repository's own example chain
(alembic.ini at the rootdir), on SQLite and on PostgreSQL, with the example app's
seeder: exactly how a project enables them."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import REPO
from support.imports import loaded_after

from safeguard.pytest_plugin import (  # noqa: F401 - collected here, as a project would
    destructive_revisions,
    test_chain_upgrades_and_downgrades,
    test_destructive_revision_restores_seeded_data,
    test_destructive_revisions_are_acknowledged,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def safeguard_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plugin.db'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def safeguard_seed():
    spec = importlib.util.spec_from_file_location("seed_database", REPO / "scripts" / "seed_database.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda engine: module.seed_database(engine, rows=12)


def test_the_plugin_finds_the_example_chains_destructive_revisions():
    assert destructive_revisions(REPO / "alembic.ini") == [
        "7fcb413ce398", "de2d457f8ad0", "7ff34d85758f", "869693962fcc"]


def test_an_unacknowledged_destructive_revision_fails_the_ready_test(pytester):
    """The ready test can fail: a project with one unreviewed drop."""
    (pytester.path / "alembic" / "versions").mkdir(parents=True)
    (pytester.path / "alembic" / "script.py.mako").write_text("")
    (pytester.path / "alembic" / "env.py").write_text("")
    (pytester.path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/alembic\n")
    (pytester.path / "alembic" / "versions" / "a1_drop.py").write_text(
        'revision = "a1"\ndown_revision = None\nfrom alembic import op\n\n'
        'def upgrade():\n    op.drop_column("properties", "notes")\n')
    pytester.makepyfile(test_safety="from safeguard.pytest_plugin import "
                                    "test_destructive_revisions_are_acknowledged  # noqa: F401\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*destructive revisions without an acknowledgement*a1*"])


def test_loading_the_plugin_does_not_import_sqlalchemy():
    """pytest loads the plugin (an entry point) in every session of every project that
    has safeguard installed; only sessions using its fixtures should pay for SQLAlchemy."""
    assert loaded_after("import safeguard.pytest_plugin", ("sqlalchemy", "alembic")) == []
