"""Real filesystems for the disk-full and read-only tests: a small tmpfs, a read-only
bind mount laid over a live directory, and a filler that takes every free byte.

Mounting needs root (CAP_SYS_ADMIN); without it the tests that need a mount skip and
say why, and the read-only store falls back to taking the write permission away
(which binds everyone but root).
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@functools.cache
def why_no_mount() -> str | None:
    """None when this process can mount filesystems; else the reason it cannot."""
    if os.geteuid() != 0:
        return "mounting a filesystem needs root"
    with tempfile.TemporaryDirectory(prefix="safeguard-mount-probe-") as probe:
        tried = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                               capture_output=True, text=True)
        if tried.returncode != 0:
            return f"mount is not permitted here: {tried.stderr.strip() or tried.returncode}"
        subprocess.run(["umount", probe], check=True)
    return None


def require_mount() -> None:
    reason = why_no_mount()
    if reason:
        pytest.skip(reason)


def _run(*argv: str) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr.strip()}"


@contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted on ``path`` (created if missing) for the body."""
    require_mount()
    path.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    try:
        yield path
    finally:
        _run("umount", str(path))


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` read-only for new opens while a process may be writing in it.

    As root: a read-only bind mount of the directory laid over itself (files already
    open for writing keep their old mount, as with any remount). Otherwise: the write
    permission taken from the directory tree."""
    if os.geteuid() == 0:
        require_mount()
        _run("mount", "--bind", str(path), str(path))
        try:
            _run("mount", "-o", "remount,ro,bind", str(path))
            yield
        finally:
            _run("umount", str(path))
        return
    modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode))


@contextmanager
def read_only_view(path: Path, view: Path) -> Iterator[Path]:
    """``path`` seen read-only at ``view`` (a second mount of the same directory, as a
    container gets one) for the body; ``path`` itself stays writable."""
    require_mount()
    view.mkdir(parents=True, exist_ok=True)
    _run("mount", "--bind", str(path), str(view))
    try:
        _run("mount", "-o", "remount,ro,bind", str(view))
        yield view
    finally:
        _run("umount", str(view))


@contextmanager
def bind_file(source: Path, target: Path) -> Iterator[Path]:
    """``source`` bind-mounted over the file ``target`` (Docker's ``-v app.db:/app/app.db``)
    for the body: ``target`` can be written but not replaced by a rename (EBUSY)."""
    require_mount()
    _run("mount", "--bind", str(source), str(target))
    try:
        yield target
    finally:
        _run("umount", str(target))


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until its filesystem is full; the file."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        for size in (4096, 512, 1):  # the last partial pages too
            try:
                while True:
                    out.write(chunk[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler
