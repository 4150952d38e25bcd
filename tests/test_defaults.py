"""Each default is defined once (config.Settings, whose retention defaults are
retention.RetentionPolicy's), and the README's table of keys says the same."""

from __future__ import annotations

import re
from dataclasses import fields

from conftest import REPO

from safeguard.config import Settings
from safeguard.retention import RetentionPolicy


def readme_defaults() -> dict[str, str]:
    """`| `key` | `default` | meaning |` rows of the README's configuration table; a
    row naming several keys (`a`, `b`) lists their defaults in the same order."""
    found = {}
    for keys, values in re.findall(r"^\| (`[^|]+`) \| (`[^|]+`) \|", (REPO / "README.md").read_text(),
                                   flags=re.M):
        names, defaults = re.findall(r"`([^`]+)`", keys), re.findall(r"`([^`]+)`", values)
        if len(names) == len(defaults):
            found.update(zip(names, defaults))
    return found


def test_the_readme_states_the_defaults_the_code_uses():
    documented = readme_defaults()
    defaults = {f.name: f.default for f in fields(Settings)}
    checked = {key: value for key, value in documented.items() if key in defaults}
    assert len(checked) >= 15, documented
    for key, value in checked.items():
        assert value == f"{defaults[key]:g}" if isinstance(defaults[key], float) \
            else value == str(defaults[key]), key


def test_the_retention_defaults_are_the_policys_own():
    settings = Settings(config_file=REPO / "alembic.ini")
    assert RetentionPolicy.of(settings) == RetentionPolicy()
