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
