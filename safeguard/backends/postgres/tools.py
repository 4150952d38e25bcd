"""The client tools, pg_dump and pg_restore: where they are, which version they are,
and running them with errors translated into safeguard's.

A pg_dump older than the server cannot dump it (it refuses, or worse, misses objects
it does not know), and a pg_restore older than the pg_dump that wrote an archive
cannot read it. Both are checked before anything is written.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ... import faults
from ...durable import Progress
from ...errors import RefusedError, SafeguardError

log = logging.getLogger(__name__)

VERSION_PATTERN = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
VERSION_TIMEOUT_S = 30
#: How often a running tool's output is measured for the progress callback. The tool
#: is reaped as soon as it exits (a wait, not a sleep): a sleep would leave an exited
#: tool a zombie for up to this long, and add that to every dump and restore.
POLL_S = 0.2


@dataclass(frozen=True)
class Tool:
    """One client program, located and asked for its version."""

    name: str
    path: str
    version: str  # as printed, e.g. "15.8"
    major: int


class ClientTools:
    """pg_dump and pg_restore from ``bindir``, or from PATH when it is None."""

    def __init__(self, bindir: str | None) -> None:
        self.bindir = bindir
        self._found: dict[str, Tool] = {}

    def get(self, name: str) -> Tool:
        """Locate ``name`` and read its version (once), or refuse."""
        if name not in self._found:
            self._found[name] = _inspect(name, self._locate(name))
        return self._found[name]

    def require(self, name: str, *, server_major: int, server_version: str) -> Tool:
        """The tool, if its major version is at least the server's; else refuse."""
        tool = self.get(name)
        if tool.major < server_major:
            raise RefusedError(
                f"{name} {tool.version} ({tool.path}) is older than the server "
                f"(PostgreSQL {server_version}) and cannot be trusted with it; set pg_bindir "
                f"to the bin directory of PostgreSQL {server_major} or newer"
            )
        return tool

    def _locate(self, name: str) -> str:
        if self.bindir:
            path = Path(self.bindir) / name
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise RefusedError(f"{name} not found in pg_bindir {self.bindir}")
            return str(path)
        found = shutil.which(name)
        if not found:
            raise RefusedError(
                f"{name} not found on PATH; install the PostgreSQL client tools "
                "or set pg_bindir"
            )
        return found


def _inspect(name: str, path: str) -> Tool:
    try:
        # --version needs nothing from this process's environment, which holds the
        # database URL (see server.client_environment).
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             env={"PATH": os.environ.get("PATH", os.defpath)},
                             timeout=VERSION_TIMEOUT_S, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RefusedError(f"cannot run {path} --version: {exc}") from exc
    match = VERSION_PATTERN.search(out)
    if not match:
        raise RefusedError(f"{path} --version printed no PostgreSQL version: {out.strip()[:80]!r}")
    major, minor = match.group(1), match.group(2)
    return Tool(name, path, f"{major}.{minor}" if minor else major, int(major))


#: The umask of every client tool safeguard runs.
PRIVATE_UMASK = 0o077


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    error: type[SafeguardError],
    what: str,
    measure: Callable[[], int] | None = None,
    progress: Progress = None,
) -> None:
    """Run a client tool to the end; any non-zero exit raises ``error("what: reason")``.

    stderr goes to a temporary file rather than a pipe, so a tool that prints many
    warnings can never block on a full pipe. While it runs, ``measure()`` (bytes
    written so far) feeds ``progress`` with the growth.
    """
    log.debug("running %s", " ".join(argv))  # argv never holds a password (see server.py)
    with tempfile.TemporaryFile() as stderr:
        try:
            # umask 077: what pg_dump writes into the store is private from its first
            # byte (0600 files, 0700 directories), as everything else there is.
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=stderr, env=dict(env),
                                    umask=PRIVATE_UMASK,
                                    preexec_fn=_deaf_to_stop_signals)
        except OSError as exc:
            raise error(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from exc
        faults.point(f"postgres:{Path(argv[0]).name}:started")
        try:
            reported = 0
            while not _exited(proc, POLL_S):
                if measure and progress:
                    now = measure()
                    if now > reported:
                        progress(now - reported)
                        reported = now
        except BaseException:
            proc.kill()  # an interrupted run must not leave a tool writing behind us
            proc.wait()
            raise
        if proc.returncode != 0:
            stderr.seek(0)
            text = stderr.read().decode(errors="replace")
            # A tool killed by a signal usually says nothing; the signal says it all.
            reason = _reason(text) or ("no message" if proc.returncode > 0 else "")
            raise error(f"{what} failed ({_status(proc.returncode)})"
                        + (f": {reason}" if reason else ""))


def _exited(proc: subprocess.Popen, within: float) -> bool:
    """Wait up to ``within`` seconds for ``proc`` to exit; whether it did (and was reaped)."""
    try:
        proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        return False
    return True


def _deaf_to_stop_signals() -> None:
    """In the tool, before exec: block SIGINT and SIGTERM (the mask survives exec, and
    pg_dump/pg_restore install handlers of their own, so ignoring them would not last).
    Ctrl-C reaches the whole process group and `systemctl stop` the whole cgroup: a
    pg_restore ending on the second signal would fail the restore the first one
    started. This process decides, and stops a tool with SIGKILL (above)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _status(returncode: int) -> str:
    """``exit 1``, or the signal that ended the tool: ``killed by SIGKILL (Killed)``."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        signum = signal.Signals(-returncode)
    except ValueError:
        return f"killed by signal {-returncode}"
    return f"killed by {signum.name} ({signal.strsignal(signum)})"


def _reason(stderr: str) -> str:
    """The line of a tool's stderr that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line or "FATAL:" in line or "ERROR:" in line:
            return line
    return lines[-1] if lines else ""


def tree_size(path: Path) -> int:
    """Bytes in a file, or in every file under a directory (0 while it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass  # written and renamed while we looked
    return total
