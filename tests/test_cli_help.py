"""Every command explains itself."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from support.imports import loaded_after

from safeguard.cli import INDEX, main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
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


def test_the_command_list_is_each_command_s_own_first_sentence():
    """`safeguard --help` lists the commands from the group's index without importing
    them: each line must still say what the command's own docstring says."""
    ctx = click.Context(main)
    for name, (module, text) in INDEX.items():
        cmd = main.get_command(ctx, name)
        assert cmd is not None and cmd.callback is not None
        assert cmd.callback.__module__ == f"safeguard.cli.{module}", name
        for limit in (30, 45, 80, 1000):
            assert click.Command(name, help=text).get_short_help_str(limit) == \
                cmd.get_short_help_str(limit), name


@pytest.mark.parametrize("argv", [["--help"], ["--version"],
                                  ["restore", "--help"]])
def test_the_command_line_starts_without_the_modules_it_does_not_use(argv):
    """Alembic, SQLAlchemy, the classifier and the operations are imported by the
    commands that use them, not by every `safeguard` process (they cost ~0.6 s)."""
    loaded = loaded_after(
        f"from safeguard.cli import main\ntry:\n    main({argv!r}, prog_name='safeguard')\n"
        "except SystemExit:\n    pass",
        ("alembic", "sqlalchemy", "sqlglot", "apscheduler", "safeguard.api", "safeguard.classify",
         "safeguard.health", "safeguard.project", "safeguard.classify.", "safeguard.operations."))
    if argv[0] == "restore":  # resolving a command loads its operation, and only that
        assert "safeguard.operations.restore" in loaded
        for other in ("lint", "migrate", "rehearse", "schedule"):
            assert f"safeguard.operations.{other}" not in loaded
        assert "sqlglot" not in loaded and "safeguard.classify" not in loaded
    else:
        assert loaded == []


def test_policy_help_says_what_a_destructive_revision_gets(project):
    """Issue 30 item 10: `--policy` help named the choices by how a failed run is
    undone, but not what a destructive revision gets under each."""
    for command in ("upgrade", "downgrade"):
        text = " ".join(project.cli(command, "--help").stdout.split())
        policy = text[text.index("--policy"):]
        policy = policy[:policy.index("--dry-run")]
        assert "destructive or unknown revision" in policy and "a snapshot first" in policy, policy
        assert "never" in policy and "not even" in policy, policy
