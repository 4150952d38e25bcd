"""Logging: the standard `logging` module, Alembic's line format, quiet by default."""

from __future__ import annotations

from conftest import HEAD


def test_quiet_by_default_info_with_v_debug_with_vv(seeded):
    default = seeded.cli("upgrade", "7fcb413ce398")
    assert "[safeguard." not in default.stderr

    verbose = seeded.cli("-v", "upgrade", "de2d457f8ad0")
    assert "INFO  [safeguard.store] snapshot " in verbose.stderr
    assert "INFO  [safeguard.guard] check integrity: passed" in verbose.stderr
    assert "DEBUG" not in verbose.stderr

    debug = seeded.cli("-vv", "upgrade", HEAD)
    journal_lines = [line for line in debug.stderr.splitlines()
                     if line.startswith('DEBUG [safeguard.journal] journal: {"ts": ')]
    assert journal_lines and all('"op": ' in line for line in journal_lines)


def test_quiet_flag_leaves_only_errors(seeded):
    result = seeded.cli("-q", "upgrade", "head")
    assert result.stderr == ""


def test_each_revision_and_the_snapshot_reason_are_said_once(seeded):
    """Alembic's "Running upgrade A -> B" said what "Applying A -> B" says; the reason
    for the snapshot was printed by the plan and again before taking it."""
    result = seeded.run("upgrade", "head")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    applying = [line for line in lines if line.startswith("Applying ")]
    assert len(applying) == 5
    for line in applying:
        arrow = line.split()[1:4]  # ["a", "->", "b"]
        assert sum(" ".join(arrow) in other for other in lines if not other.startswith("  ")) == 1
    assert not any("Running upgrade" in line for line in lines)
    reason = "7fcb413ce398 is destructive (BC102)"
    assert sum(reason in line for line in lines) == 1, result.stderr


def test_verbose_survives_a_stock_env_py_that_disables_existing_loggers(stock_project):
    """Alembic's template env.py calls fileConfig(), which disables every logger the
    ini does not name: safeguard's -v must still print, and the process's loggers
    must be as they were afterwards."""
    stock_project.add_revision("a1a1a1a1a1a1", None,
                               "op.create_table('items', sa.Column('id', sa.Integer, primary_key=True))")
    stock_project.add_revision("b2b2b2b2b2b2", "a1a1a1a1a1a1", "op.drop_table('items')")
    stock_project.cli("upgrade", "a1a1a1a1a1a1", "--create")
    verbose = stock_project.run("-v", "upgrade", "head")
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO  [safeguard.store] snapshot " in verbose.stderr
    assert "INFO  [safeguard.guard] check integrity: passed" in verbose.stderr


def test_env_py_logging_setup_leaves_safeguard_loggers_as_they_were(stock_project):
    import logging

    stock_project.add_revision("a1a1a1a1a1a1", None, "pass")
    disabled_by_caller = logging.getLogger("safeguard.schedule")
    disabled_by_caller.disabled = True
    try:
        stock_project.cli("-v", "upgrade", "head", "--create")
        assert not logging.getLogger("safeguard").disabled
        assert not logging.getLogger("safeguard.guard").disabled
        assert disabled_by_caller.disabled
    finally:
        disabled_by_caller.disabled = False
