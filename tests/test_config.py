"""Configuration: every place users look, the order they win in, and `safeguard config`
showing the effective values and where each came from."""

from __future__ import annotations

import json

from conftest import SEED_AT


def test_later_sources_win_and_config_names_each_source(seeded, monkeypatch):
    (seeded.root / "pyproject.toml").write_text(
        '[tool.safeguard]\nkeep_last = 2\nkeep_daily = 3\nkeep_weekly = 5\ncheck_timeout = 9\n'
        '[tool.safeguard.sql_check]\nno_orphans = "SELECT 1"\n')
    seeded.configure(keep_daily="4", keep_weekly="6")
    monkeypatch.setenv("SAFEGUARD_KEEP_WEEKLY", "7")
    monkeypatch.setenv("SAFEGUARD_LOCK_TIMEOUT", "8")

    report = json.loads(seeded.cli("--json", "config").stdout)
    settings = report["settings"]

    assert settings["keep_last"] == {"value": 2, "source": "pyproject.toml [tool.safeguard]"}
    assert settings["keep_daily"] == {"value": 4, "source": "alembic.ini [safeguard]"}
    assert settings["keep_weekly"] == {"value": 7, "source": "environment SAFEGUARD_KEEP_WEEKLY"}
    assert settings["keep_monthly"] == {"value": 12, "source": "default"}
    assert settings["check_timeout"]["value"] == 9.0
    assert settings["sql_check.no_orphans"] == {"value": "SELECT 1",
                                               "source": "pyproject.toml [tool.safeguard]"}
    assert settings["url"] == {"value": seeded.url, "source": "command line --url"}
    assert report["database"] == {"url": seeded.url, "dialect": "sqlite", "heads": [SEED_AT],
                                  "source": "env.py"}

    text = seeded.cli("config").stdout
    assert "keep_weekly" in text and "(environment SAFEGUARD_KEEP_WEEKLY)" in text
    assert f"{seeded.url} at {SEED_AT}  (env.py)" in text



def test_a_flag_beats_every_file_and_the_environment(seeded, monkeypatch):
    seeded.configure(lock_timeout="5")
    monkeypatch.setenv("SAFEGUARD_LOCK_TIMEOUT", "6")
    from safeguard.config import load_settings

    settings = load_settings(seeded.ini, url=seeded.url, lock_timeout=7)
    rows = {key: (value, source) for key, value, source in settings.effective()}
    assert rows["lock_timeout"] == (7.0, "command line --lock-timeout")


def test_config_masks_passwords_and_still_reports_an_unreachable_database(project):
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/poolula"
    result = project.cli("--url", url, "config")  # the later --url wins
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "postgresql://app:***@127.0.0.1:1/poolula" in result.stdout
    assert "not resolved: " in result.stdout

    report = json.loads(project.cli("--url", url, "--json", "config", "--no-probe").stdout)
    assert report["database"] is None
    assert "s3cret-pw" not in json.dumps(report)


def test_a_wrong_type_names_the_key_and_the_source(seeded, monkeypatch):
    monkeypatch.setenv("SAFEGUARD_KEEP_LAST", "many")
    result = seeded.cli("config", expect=2)
    (line,) = result.stderr.strip().splitlines()
    assert "environment SAFEGUARD_KEEP_LAST" in line and "keep_last" in line and "'many'" in line


def test_a_store_left_empty_in_the_environment_is_refused(seeded, monkeypatch):
    monkeypatch.setenv("SAFEGUARD_STORE", " ")
    result = seeded.cli("snapshot", "create", expect=2)
    (line,) = result.stderr.strip().splitlines()
    assert "environment SAFEGUARD_STORE" in line and "store" in line and "empty" in line
    assert not any(seeded.root.glob("snapshots"))  # the project directory never became the store
