"""Whose store is it: safeguard trusts a snapshot store only if no one else can write it.

The store decides what a restore writes into the database (its snapshots), what
`recover` finishes (its journal) and which file the lock opens; another local user
who can write any of it can make safeguard overwrite the database with their data or
truncate a file through a planted link. So, as ssh does with its keys, the store is
used only when the store and everything in it

- belongs to the invoking user, and
- is not writable by group or others, and
- holds no symbolic link (nothing inside is ever followed out of it).

Otherwise the command is refused (exit 3) with one line naming the path and the fix;
nothing is followed, changed or deleted. The root itself may be a link the user made
(a store on a bigger disk): its target is held to the same rule.

The walk is a few `lstat` calls per snapshot (well under a millisecond for a store of
a hundred snapshots), done once per command.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from .errors import StoreNotTrustedError


def check_private(root: Path) -> None:
    """Refuse a store (``root`` and everything below it) someone else could write."""
    try:
        top = os.stat(root)
    except (FileNotFoundError, NotADirectoryError):
        return  # created private (0700) when first needed (or refused as not writable)
    except OSError as exc:
        raise StoreNotTrustedError(f"snapshot store {root} cannot be examined: "
                                   f"{exc.strerror or exc}") from exc
    _check(root, top)
    if stat.S_ISDIR(top.st_mode):
        _walk(root)


def _walk(directory: Path) -> None:
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        raise StoreNotTrustedError(f"snapshot store directory {directory} cannot be read: "
                                   f"{exc.strerror or exc}") from exc
    for entry in entries:
        path = Path(entry.path)
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while we looked (a leftover being tidied)
        _check(path, info)
        if stat.S_ISDIR(info.st_mode):
            _walk(path)


def _check(path: Path, info: os.stat_result) -> None:
    me = os.geteuid()
    if stat.S_ISLNK(info.st_mode):
        raise StoreNotTrustedError(
            f"{path} in the snapshot store is a symbolic link (to {_target(path)}); safeguard "
            f"never follows links inside its store: find out who made it, then remove it")
    if info.st_uid != me:
        raise StoreNotTrustedError(
            f"{path} in the snapshot store belongs to {_user(info.st_uid)}, not to "
            f"{_user(me)}: safeguard uses only a store no one else can write; find out who "
            f"put it there, then `chown {_user(me)} {path}` or remove it")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StoreNotTrustedError(
            f"{path} in the snapshot store is writable by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}): safeguard uses only a store no one else "
            f"can write; `chmod go-w {path}`")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"
