"""The live database during a rehearsal: kept out of reach, and proved untouched.

A rehearsal migrates a copy, but the revisions are the project's code, and nothing
kept that code from opening the live database itself: `sqlite3.connect("/srv/app.db")`
in a revision changed the live file while the rehearsal said "would succeed".
identity.held_to holds every SQLAlchemy connection to the copy; this module covers
what goes around SQLAlchemy:

- `fenced(files, why)`: in the body, a driver connection (`sqlite3.connect`) to one of
  ``files`` (the live database's, `Backend.local_files`), or an open of one for
  writing, by any thread of this process, raises LiveDatabaseTouched before anything
  is written. Python's audit hooks see both, however the code imported them. An audit
  hook cannot be removed once added: one is added the first time, and it does nothing
  outside a fence.
- `fingerprint(files)` / `changes(before, after)`: what can be read of those files
  without opening them (identity, size, modification time), before and after; a
  difference, whoever made it (a child process a revision started, beyond the fence's
  reach, or the application), means the rehearsal cannot say it left the live database
  alone. A read opens nothing for writing, so readers never trip it.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import SafeguardError

#: (device, inode, size, mtime in ns) of each file, None for a file that does not exist.
Fingerprint = tuple[tuple[int, int, int, int] | None, ...]

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC | os.O_CREAT


class LiveDatabaseTouched(SafeguardError):
    """The project's code reached for the live database during a rehearsal."""


_fence: tuple[frozenset[Path], frozenset[tuple[int, int]], str] | None = None
_hooked = False
_hooking = threading.Lock()


@contextmanager
def fenced(files: Sequence[Path], why: str) -> Iterator[None]:
    """Refuse, in the body, any connection to or write opening of ``files`` (see the
    module doc), with LiveDatabaseTouched("``why``: what was tried")."""
    global _fence, _hooked
    if not files:
        yield
        return
    with _hooking:
        if not _hooked:
            sys.addaudithook(_audit)
            _hooked = True
    inodes = frozenset(identity[:2] for identity in fingerprint(files) if identity is not None)
    outer, _fence = _fence, (frozenset(Path(f) for f in files), inodes, why)
    try:
        yield
    finally:
        _fence = outer


def fingerprint(files: Sequence[Path]) -> Fingerprint:
    """Each file's (device, inode, size, mtime_ns), or None where there is none."""
    found: list[tuple[int, int, int, int] | None] = []
    for path in files:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            found.append(None)
            continue
        found.append((info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(found)


def changes(files: Sequence[Path], before: Fingerprint, after: Fingerprint) -> list[str]:
    """What differs between two fingerprints of ``files``, in words."""
    said = []
    for path, old, new in zip(files, before, after):
        if old == new:
            continue
        if old is None or new is None:
            said.append(f"{path.name} {'appeared' if old is None else 'went away'}")
        elif old[:2] != new[:2]:
            said.append(f"{path.name} was replaced by another file")
        else:
            said.append(f"{path.name} was written ({old[2]:,} -> {new[2]:,} bytes)")
    return said


def _audit(event: str, args: tuple[Any, ...]) -> None:
    fence = _fence
    if fence is None or event not in ("sqlite3.connect", "open"):
        return
    files, inodes, why = fence
    target = args[0] if args else None
    if isinstance(target, bytes):
        target = os.fsdecode(target)
    if not isinstance(target, (str, os.PathLike)):
        return  # an fd, or nothing
    if event == "open" and not _for_writing(args):
        return
    text = os.fspath(target)
    if event == "sqlite3.connect" and text.startswith("file:"):
        text = text[5:].split("?", 1)[0]
    if not text or text == ":memory:":
        return
    if not _is_one_of(Path(text), files, inodes):
        return
    what = "a driver connection to" if event == "sqlite3.connect" else "opening for writing"
    raise LiveDatabaseTouched(f"{why}: {what} {text} was refused")


def _for_writing(args: tuple[Any, ...]) -> bool:
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 else 0
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _is_one_of(path: Path, files: frozenset[Path], inodes: frozenset[tuple[int, int]]) -> bool:
    try:
        if path.resolve() in files:
            return True
        info = os.stat(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return (info.st_dev, info.st_ino) in inodes
