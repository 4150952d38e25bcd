"""Each default is defined once (config.Settings, whose retention defaults are
retention.RetentionPolicy's), and the configuration reference says the same."""

from __future__ import annotations

import re
from dataclasses import fields

from conftest import REPO, load_module

from safeguard.config import Settings
from safeguard.retention import RetentionPolicy


def documented_defaults() -> dict[str, str]:
    """`| `key` | `default` | ... |` rows of the configuration reference (written from
    the code by docs/hooks/reference.py when the site is built)."""
    reference = load_module("docs_reference", REPO / "docs" / "hooks" / "reference.py")
    found = {}
    for keys, values in re.findall(r"^\| (`[^|]+`) \| (`[^|]+`) \|", reference.configuration_reference(),
                                   flags=re.M):
        names, defaults = re.findall(r"`([^`]+)`", keys), re.findall(r"`([^`]+)`", values)
        if len(names) == len(defaults):
            found.update(zip(names, defaults))
    return found


def test_the_documentation_states_the_defaults_the_code_uses():
    documented = documented_defaults()
    defaults = {f.name: f.default for f in fields(Settings)}
    checked = {key: value for key, value in documented.items() if key in defaults}
    assert len(checked) >= 15, documented
    for key, value in checked.items():
        assert value == f"{defaults[key]:g}" if isinstance(defaults[key], float) \
            else value == str(defaults[key]), key


def test_the_retention_defaults_are_the_policys_own():
    settings = Settings(config_file=REPO / "alembic.ini")
    assert RetentionPolicy.of(settings) == RetentionPolicy()
