"""Whether a file is a mount point of its own: what a SQLite restore must know first.

A restore replaces the database file by rename (sqlite.py), and the kernel refuses to
rename anything over a mount point (EBUSY). A single file is a mount point when it is
bind-mounted on its own, as `docker run -v app.db:/app/app.db` does: it can be read and
written like any file (so every other check passes), and only the restore that undoes
a failed run finds out, with the run half done. A bind mount of a file from the same
filesystem has the same device number as its directory, so only the mount table tells:
on Linux, /proc/self/mountinfo, which lists this process's mount namespace (a
container's own). Elsewhere nothing is reported.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
#: mountinfo escapes space, tab, newline and backslash in paths as \ooo.
_ESCAPE = re.compile(r"\\([0-7]{3})")


def is_mount_point(path: Path) -> bool:
    """Whether ``path`` (resolved) is where something is mounted."""
    try:
        text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return False
    wanted = os.path.realpath(path)
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4 and _unescape(fields[4]) == wanted:
            return True
    return False


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)
