"""The client tools, mariadb-dump (mysqldump) and mariadb (mysql): where they are,
which version they are, and running them with their output streamed.

A dump tool older than the server may miss what it does not know; one of the other
flavour (MySQL's mysqldump against MariaDB, or the reverse) speaks a dialect the
server does not. Both are refused before anything is written. Each tool dies with
the safeguard process that runs it (PR_SET_PDEATHSIG): a killed runner never leaves
a loader writing behind `recover`.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import IO, Callable, Sequence

from ...errors import RefusedError, SafeguardError

VERSION_TIMEOUT_S = 30
#: Candidates for each tool, preferred first.
NAMES = {"dump": ("mariadb-dump", "mysqldump"), "client": ("mariadb", "mysql")}
_VERSION = re.compile(r"(?:Distrib\s+|Ver\s+)(\d+)\.(\d+)\.(\d+)(-MariaDB)?")


@dataclass(frozen=True)
class Tool:
    """One client program, located and asked for its version."""

    path: str
    version: tuple[int, int, int]
    mariadb: bool

    @property
    def label(self) -> str:
        return f"{os.path.basename(self.path)} {'.'.join(map(str, self.version))}"


def server_version(text: str) -> tuple[tuple[int, int, int], bool]:
    """(version, is MariaDB) of ``SELECT VERSION()``."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    numbers = tuple(int(g) for g in match.groups()) if match else (0, 0, 0)
    return (numbers[0], numbers[1], numbers[2]), "mariadb" in text.lower()


class ClientTools:
    """The dump tool and the client, from ``bindir`` or from PATH."""

    def __init__(self, bindir: str | None = None) -> None:
        self.bindir = bindir
        self._found: dict[str, Tool] = {}

    def get(self, kind: str) -> Tool:
        if kind not in self._found:
            self._found[kind] = _inspect(self._locate(kind))
        return self._found[kind]

    def require(self, kind: str, *, server: str) -> Tool:
        """The tool, if it is of the server's flavour and at least its version (major,
        minor); else refuse with one line."""
        tool = self.get(kind)
        version, mariadb = server_version(server)
        flavour = "MariaDB" if mariadb else "MySQL"
        if tool.mariadb != mariadb or tool.version[:2] < version[:2]:
            raise RefusedError(
                f"{tool.label} ({tool.path}) is {'older than' if tool.mariadb == mariadb else 'not of'} "
                f"the server ({flavour} {server}) and cannot be trusted with it; install "
                f"the {flavour} {version[0]}.{version[1]} client tools or newer")
        return tool

    def _locate(self, kind: str) -> str:
        for name in NAMES[kind]:
            found = (os.path.join(self.bindir, name) if self.bindir else shutil.which(name))
            if found and os.access(found, os.X_OK):
                return found
        raise RefusedError(f"{' or '.join(NAMES[kind])} not found on PATH; install the "
                           "MariaDB (or MySQL) client tools")


def _inspect(path: str) -> Tool:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             env={"PATH": os.environ.get("PATH", os.defpath)},
                             timeout=VERSION_TIMEOUT_S, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RefusedError(f"cannot run {path} --version: {exc}") from exc
    match = _VERSION.search(out)
    if not match:
        raise RefusedError(f"{path} --version printed no version: {out.strip()[:80]!r}")
    numbers = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    # mysqldump of MySQL 8 says "Ver 8.0.36 for Linux"; MariaDB's tools "Distrib 10.11.6-MariaDB".
    return Tool(path, numbers, bool(match.group(4)) or "mariadb" in out.lower())


def _child_setup() -> None:
    """In the tool, before exec: die with the parent, and ignore the stop signals the
    parent handles itself (it decides, and stops a tool with SIGKILL)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def run(argv: Sequence[str], *, env: dict[str, str], error: type[SafeguardError], what: str,
        stdout: Callable[[bytes], None] | None = None,
        stdin: Callable[[IO[bytes]], None] | None = None) -> None:
    """Run a tool to the end, handing each chunk of its stdout to ``stdout`` or letting
    ``stdin`` write its input; any non-zero exit raises ``error("what: reason")``."""
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout else subprocess.DEVNULL, stderr=stderr,
                env=env, umask=0o077, preexec_fn=_child_setup)
        except OSError as exc:
            raise error(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from exc
        try:
            if stdout is not None:
                assert proc.stdout is not None
                while chunk := proc.stdout.read(1 << 20):
                    stdout(chunk)
            if stdin is not None:
                assert proc.stdin is not None
                try:
                    stdin(proc.stdin)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass  # the tool stopped reading: its exit status says why
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            stderr.seek(0)
            lines = [ln.strip() for ln in stderr.read().decode(errors="replace").splitlines()
                     if ln.strip()]
            reason = next((ln for ln in lines if "ERROR" in ln or "error" in ln),
                          lines[-1] if lines else "")
            status = (f"exit {proc.returncode}" if proc.returncode > 0
                      else f"killed by signal {-proc.returncode}")
            raise error(f"{what} failed ({status})" + (f": {reason}" if reason else ""))
