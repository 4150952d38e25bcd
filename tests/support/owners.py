"""A database file handed to another user, as a deployment hands it to the
application's user (the tests run as root; `postgres` is the unprivileged user)."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def give_away(path) -> tuple[int, int, int]:
    """Give ``path`` to the `postgres` user, mode 0664: (mode, uid, gid)."""
    user = pwd.getpwnam("postgres")
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, 0o664)
    return 0o664, user.pw_uid, user.pw_gid


def mode_and_owner(path) -> tuple[int, int, int]:
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
