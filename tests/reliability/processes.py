"""Real processes for the fault tests: spawn the CLI in its own process group, kill it
at a chosen instant, find its children in /proc, and catch it at a pause point.

Nothing here is simulated: the kill is a real SIGKILL, the pause a real SIGSTOP that
the process sends itself at a `SAFEGUARD_PAUSE` point (safeguard/faults.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

POLL_S = 0.002
#: How long any single wait here may take before the test fails instead of hanging.
PATIENCE_S = 120.0


@dataclass
class Run:
    """One CLI process, started in a new session so that its children can be found
    (and killed) with it."""

    proc: subprocess.Popen
    out: Path
    err: Path
    started: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = PATIENCE_S) -> int:
        return self.proc.wait(timeout=timeout)

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def kill(self, *, group: bool = False) -> None:
        """SIGKILL the process (as the OOM killer does) or its whole group (as a
        container stop or a power cut does)."""
        try:
            if group:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.kill()
        except ProcessLookupError:
            pass

    def reap(self) -> None:
        """Leave nothing running: the process and any orphaned child it left."""
        self.kill(group=True)
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=PATIENCE_S)


def start(project, *args: str, env: Mapping[str, str] | None = None, **popen) -> Run:
    """Start ``safeguard -c INI --url URL ARGS...`` from the project's directory."""
    logs = project.root.parent
    out, err = logs / f"run-{time.monotonic_ns()}.out", logs / f"run-{time.monotonic_ns()}.err"
    argv = [sys.executable, "-m", "safeguard", "-c", str(project.ini), "--url", project.url, *args]
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(argv, cwd=project.root, stdout=stdout, stderr=stderr,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                start_new_session=True, **popen)
    return Run(proc, out, err, time.monotonic())


def wait_until(condition: Callable[[], bool], run: Run | None = None, *,
               timeout: float = PATIENCE_S, what: str = "a condition") -> bool:
    """Poll until ``condition()``; False if ``run`` exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if run is not None and not run.alive():
            return condition()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(POLL_S)
    return True


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def state_of(pid: int) -> str:
    """The process state letter from /proc (R, S, D, T, Z, ...); '' once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return ""


def kill_live(pid: int) -> bool:
    """SIGKILL ``pid`` if it is still at work; whether it was.

    A process that has exited but whose parent has not reaped it yet is a zombie, and
    ``os.kill`` on a zombie succeeds: a test that takes that success for a kill blames a
    tool that had in fact finished its work (issue 35: pg_dump done, safeguard between
    two polls, the "killed" dump followed by a migration). So the process is stopped
    first (a stopped process cannot exit), then looked at: only one caught stopped was
    killed at work."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + PATIENCE_S
    while (state := state_of(pid)) not in ("T", "Z", ""):  # SIGSTOP lands asynchronously
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not stop (state {state})")
        time.sleep(POLL_S)
    if state != "T":
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def wait_stopped(run: Run) -> None:
    """Wait until the process has stopped itself at its SAFEGUARD_PAUSE point."""
    reached = wait_until(lambda: state_of(run.pid) == "T", run, what="the pause point")
    assert reached, f"the process exited (status {run.proc.returncode}) before its pause " \
                    f"point:\n{run.stderr()[-2000:]}"


def resume(run: Run) -> None:
    os.kill(run.pid, signal.SIGCONT)


def descendants(pid: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process below ``pid``, found by walking /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone while we looked
        parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            found.append((child, argv))
            todo.append(child)
    return found


def child_running(run: Run, program: str, with_option: str) -> int | None:
    """The pid of a live descendant running ``program`` with an option starting with
    ``with_option`` (so `pg_dump --version` is not mistaken for the dump)."""
    for pid, argv in descendants(run.pid):
        if argv and Path(argv[0]).name == program and any(a.startswith(with_option) for a in argv) \
                and state_of(pid) not in ("Z", ""):
            return pid
    return None
