"""The secrets suite on MariaDB: the password never in output, journal, manifests,
or any process's argv or environment, while mariadb-dump and mariadb run (they get
it from a 0600 option file that is gone once they are)."""

from __future__ import annotations

import pytest
from conftest import SEED_AT
from test_secrets import Exposure, assert_nowhere, private_tmp, run_all  # noqa: F401 - a fixture

pytestmark = [pytest.mark.reliability, pytest.mark.mysql]

FAILS = """
op.drop_column("properties", "legacy_owner_notes")
raise RuntimeError("boom")
"""
STORY = [
    ("-v", "snapshot", "create"), ("--json", "snapshot", "create"),
    ("-v", "snapshot", "verify", "latest"),
    ("--json", "restore", "latest", "--yes"),
    ("-v", "upgrade", "a1b2c3d4e5f6", "--policy", "always"),
    ("-v", "recover"), ("--json", "current"),
]


def test_every_command_keeps_the_password_to_itself_on_mariadb(mysql_seeded, mysql_server,
                                                                 private_tmp):  # noqa: F811
    assert mysql_server.password and mysql_server.password in mysql_seeded.url
    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT, FAILS, doc="fails")
    exposure = Exposure()

    codes = run_all(mysql_seeded, STORY, exposure, tmp=private_tmp)

    failed = {args: code for args, code in codes.items() if code != 0}
    assert failed == {("-v", "upgrade", "a1b2c3d4e5f6", "--policy", "always"): 6}, failed
    assert_nowhere(exposure, mysql_server.password)
    # It was there to be seen: the client tools ran and were caught running.
    assert {"mariadb-dump", "mariadb"} <= exposure.programs, exposure.programs
