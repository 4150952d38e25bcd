"""Every command explains itself."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from safeguard.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path,cmd", list(_commands(main)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_help(path, cmd):
    assert cmd.help and len(cmd.help.strip()) > 20, f"safeguard {' '.join(path)} needs a docstring"
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output


def test_the_contract_commands_exist():
    names = {" ".join(path) for path, _ in _commands(main)}
    assert {"upgrade", "downgrade", "plan", "lint", "check", "snapshot create", "snapshot list",
            "snapshot show", "snapshot verify", "snapshot prune", "restore", "recover",
            "schedule", "current", "history", "heads", "stamp", "revision", "log"} <= names
