"""safeguard finds the project's Alembic configuration where Alembic does: -c, else
alembic.ini, else pyproject.toml's [tool.alembic] (Alembic 1.16+), and reads the
database URL the way env.py does, or says in one line what is missing."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from safeguard.cli import main
from test_env_styles import CHAIN, STYLES_DIR, make_project, style_named


@pytest.fixture
def pyproject_only(tmp_path, monkeypatch):
    """The `pyproject` fixture project (no alembic.ini), as the working directory."""
    monkeypatch.delenv("DATABASE_URL")
    root = tmp_path / "pyproject"
    shutil.copytree(STYLES_DIR / "pyproject", root)
    shutil.copytree(STYLES_DIR / "_chain", root / "migrations" / "versions")
    monkeypatch.chdir(root)
    return root


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_pyproject_toml_is_found_without_an_alembic_ini(pyproject_only):
    assert invoke("heads").stdout.split() == [CHAIN[-1]]
    assert invoke("-c", "pyproject.toml", "heads").stdout.split() == [CHAIN[-1]]


def test_alembic_config_variable_names_the_configuration(pyproject_only, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEMBIC_CONFIG", str(pyproject_only / "pyproject.toml"))
    monkeypatch.chdir(tmp_path)

    assert invoke("heads").stdout.split() == [CHAIN[-1]]


def test_alembic_ini_beside_a_tool_alembic_table_is_read_with_it(pyproject_only):
    """Alembic's `pyproject` template: the scripts in pyproject.toml, an alembic.ini
    beside it. Alembic reads both, and so does safeguard ([safeguard] in the ini wins
    over [tool.safeguard])."""
    (pyproject_only / "alembic.ini").write_text(
        "[alembic]\n# script_location is in pyproject.toml\n\n[safeguard]\nstore = ini-store\n")
    (pyproject_only / "instance").mkdir()

    result = invoke("upgrade", CHAIN[0], "--create")

    assert result.exit_code == 0, result.stderr
    assert invoke("current").stdout.split() == [CHAIN[0]]
    assert (pyproject_only / "ini-store" / "journal.jsonl").is_file()


def test_no_configuration_at_all_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "not-alembic"\n')
    monkeypatch.chdir(tmp_path)

    result = invoke("upgrade", "head")

    assert result.exit_code == 2
    assert result.stderr == ("safeguard: error: no alembic.ini here, and no pyproject.toml with "
                             "a [tool.alembic] table (pass -c/--config PATH)\n")
    assert invoke("-c", "pyproject.toml", "heads").stderr == (
        "safeguard: error: pyproject.toml has no [tool.alembic] table (pass -c/--config PATH)\n")


def test_empty_sqlalchemy_url_and_no_url_given_says_what_to_pass(tmp_path):
    sp = make_project(tmp_path, style_named("emptyurl"))
    before = sp.db.read_bytes()

    result = sp.safeguard("--url", "", "upgrade", "head")

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("safeguard: error: env.py failed (RuntimeError: sqlalchemy.url is empty")
    assert line.endswith("sqlalchemy.url is empty and no URL was given: pass --url or set "
                         "DATABASE_URL (or make env.py find its URL)")
    assert sp.db.read_bytes() == before
