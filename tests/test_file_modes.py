"""File modes and owners: a restore gives the application back its database file as
it was (mode, owner, group), while everything in the snapshot store stays private
(files 0600, directories 0700), on both engines.

Run as root, the tests hand the database to the unprivileged `postgres` user, as a
deployment hands it to the application's user."""

from __future__ import annotations

import json
import os
import stat

import pytest
from conftest import HEAD, table_contents, version_of
from support.owners import give_away, mode_and_owner, needs_root

FAILING_CHECK = 'op.add_column("properties", sa.Column("zoning_code", sa.Text()))\n'


def private(store) -> list[str]:
    """Every file or directory in the store that is not private, with its mode."""
    found = []
    for root, dirs, files in os.walk(store):
        for name in dirs:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            if mode != 0o700:
                found.append(f"{os.path.join(root, name)} {mode:o}")
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            if mode != 0o600:
                found.append(f"{os.path.join(root, name)} {mode:o}")
    return found


@needs_root
def test_a_manual_restore_keeps_the_database_files_mode_and_owner(seeded):
    wanted = table_contents(seeded.db)
    taken = json.loads(seeded.cli("--json", "snapshot", "create").stdout)["id"]
    seeded.cli("upgrade", "head")
    before = give_away(seeded.db)

    seeded.cli("restore", taken, "--yes")

    assert table_contents(seeded.db) == wanted
    assert mode_and_owner(seeded.db) == before
    assert private(seeded.store) == []


@needs_root
def test_an_automatic_rollback_keeps_the_database_files_mode_and_owner(seeded):
    seeded.cli("upgrade", HEAD)
    seeded.add_revision("b2c3d4e5f6a1", HEAD, FAILING_CHECK)
    wanted = table_contents(seeded.db)
    before = give_away(seeded.db)

    seeded.cli("upgrade", "head", "--policy", "always", expect=7)

    assert version_of(seeded.db) == [HEAD] and table_contents(seeded.db) == wanted
    assert mode_and_owner(seeded.db) == before
    assert private(seeded.store) == []


@pytest.mark.postgres
@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_every_file_in_the_store_is_private_on_postgresql(fmt, pg_seeded):
    pg_seeded.configure(pg_format=fmt)
    taken = json.loads(pg_seeded.cli("--json", "snapshot", "create").stdout)
    pg_seeded.cli("upgrade", "head")
    pg_seeded.cli("restore", taken["id"], "--yes")

    assert taken["extra"]["format"] == fmt
    assert private(pg_seeded.store) == []
