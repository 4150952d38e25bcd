"""Durable file operations: kernel copies, checksums, fsync, atomic replace.

Every file safeguard writes that must survive a crash goes through here: written under a
temporary name, flushed and fsynced, renamed into place, and the directory fsynced so
the rename itself is on disk.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Optional

#: Big enough that syscalls and hashing dominate nothing; small enough to keep memory flat.
CHUNK = 4 * 1024 * 1024

Progress = Optional[Callable[[int], None]]
"""Called with the number of bytes just processed."""

def close_progress(progress: Progress) -> None:
    """Finish a progress reporter, if it is one that needs finishing (a bar)."""
    close = getattr(progress, "close", None)
    if close:
        close()


FILE_MODE = 0o600
DIR_MODE = 0o700


def kernel_copy(src: Path, dst: Path, *, progress: Progress = None, mode: int = FILE_MODE,
                sync: bool = True) -> None:
    """Copy ``src`` to a new file ``dst`` inside the kernel (copy_file_range, else
    sendfile, else pread/pwrite) and fsync it, unless not ``sync``: a caller that
    holds a lock only for the reading fsyncs after letting go, while it hashes the copy
    (`fsync_file`). Several times faster than copying through Python, and it leaves
    both cores free for hashing and checking the copy."""
    size = os.stat(src).st_size
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with open(src, "rb", buffering=0) as reader:
            inp, copied = reader.fileno(), 0
            for step in (_copy_file_range, _sendfile, _pread_pwrite):
                try:
                    while copied < size:
                        n = step(inp, out, copied, min(CHUNK * 16, size - copied))
                        if n == 0:
                            break
                        copied += n
                        if progress:
                            progress(n)
                    break
                except OSError as exc:
                    # Not supported here (old kernel, other filesystem): the next way
                    # carries on from where this one stopped.
                    if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS,
                                         errno.EOPNOTSUPP, errno.ENOTSUP):
                        raise
        if sync:
            os.fsync(out)
    finally:
        os.close(out)


def _copy_file_range(inp: int, out: int, offset: int, count: int) -> int:
    return os.copy_file_range(inp, out, count, offset, offset)


def _sendfile(inp: int, out: int, offset: int, count: int) -> int:
    os.lseek(out, offset, os.SEEK_SET)  # sendfile writes at the output's position
    return os.sendfile(out, inp, offset, count)


def _pread_pwrite(inp: int, out: int, offset: int, count: int) -> int:
    return os.pwrite(out, os.pread(inp, count, offset), offset)


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte, or raise: a short write (a disk filling up) is retried until
    it either completes or fails with the error that stopped it."""
    while data:
        written = os.write(fd, data)
        data = data[written:]


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry table, so renames and creations in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(src: Path, dst: Path) -> None:
    """Atomically rename ``src`` over ``dst`` and make the rename durable."""
    os.replace(src, dst)
    fsync_dir(dst.parent)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: temporary file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp")
    payload = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        write_all(fd, memoryview(payload))
        os.fsync(fd)
    finally:
        os.close(fd)
    replace(tmp, path)


def take_mode_and_owner(path: Path, like: os.stat_result) -> bool:
    """Give ``path`` the permission bits, owner and group of ``like`` (the file it is
    about to replace), so whoever could open that file can open this one. False when
    the owner could not be kept (only root may give a file away); the mode always is."""
    kept = True
    if (like.st_uid, like.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.chown(path, like.st_uid, like.st_gid)
        except PermissionError:
            kept = False
            try:
                os.chown(path, -1, like.st_gid)  # a group this user is in
            except PermissionError:
                pass
    os.chmod(path, stat.S_IMODE(like.st_mode))  # after chown, which may clear setgid
    return kept


def make_dir(path: Path) -> Path:
    """Create a private directory (0700), and any missing parents as private too."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
    target = missing[0] if missing else path
    if not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(target))
    return target


def remove_quietly(path: Path) -> None:
    """Remove a file if it exists."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
