"""A project made by `alembic init -t multidb` migrates several databases in one run of
env.py. safeguard guards one database per run, so it refuses such a project in one
line that names the template and the databases, before it connects to any of them
(`--create` must not leave empty files behind), and `plan` and `config` never report
just one of them as if it were the whole story."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def multidb(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL")  # the project's own URLs, as its env.py reads them
    subprocess.run([sys.executable, "-m", "alembic", "init", "-t", "multidb", "migrations"],
                   cwd=tmp_path, check=True, capture_output=True)
    ini = tmp_path / "alembic.ini"
    text = ini.read_text()
    text = text.replace("driver://user:pass@localhost/dbname2", f"sqlite:///{tmp_path / 'two.db'}")
    text = text.replace("driver://user:pass@localhost/dbname", f"sqlite:///{tmp_path / 'one.db'}")
    ini.write_text(text)
    subprocess.run([sys.executable, "-m", "alembic", "revision", "-m", "first"],
                   cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def safeguard(root, *args):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "safeguard", "-c", str(root / "alembic.ini"), *args],
                          cwd=root, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("args", [
    ("upgrade", "head", "--create"),
    ("upgrade", "head"),
    ("plan",),
    ("current",),
    ("check",),
    ("snapshot", "create"),
    ("stamp", "head"),
])
def test_a_multidb_project_is_refused_in_one_line_before_anything_is_created(multidb, args):
    done = safeguard(multidb, *args)

    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1 and lines[0].startswith("safeguard: error:"), done.stderr
    assert "multidb" in lines[0] and "engine1" in lines[0] and "engine2" in lines[0], lines[0]
    assert "one.db" in lines[0] and "two.db" in lines[0], lines[0]
    assert not (multidb / "one.db").exists() and not (multidb / "two.db").exists()
    assert not (multidb / ".safeguard" / "journal.jsonl").exists()


def test_config_reports_the_multidb_project_instead_of_one_of_its_databases(multidb):
    done = safeguard(multidb, "--json", "config")

    database = json.loads(done.stdout)["database"]
    assert set(database) == {"error"}, database
    assert "multidb" in database["error"] and "engine1" in database["error"] \
        and "engine2" in database["error"]
    assert not (multidb / "one.db").exists() and not (multidb / "two.db").exists()
