"""Progress bars appear on a terminal, and never with --json or in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys


def _run_with_stderr_on_a_terminal(project, *args):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(project.ini), "--url", project.url, *args],
        cwd=project.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
        env={**os.environ, "COLUMNS": "100"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not data:
            break
        chunks.append(data)
    stdout, _ = proc.communicate()
    os.close(leader)
    return proc.returncode, stdout.decode(), b"".join(chunks).decode(errors="replace")


def test_snapshot_shows_a_progress_bar_on_a_terminal(seeded):
    code, _, terminal = _run_with_stderr_on_a_terminal(seeded, "snapshot", "create")
    assert code == 0 and "Snapshot" in terminal and "100%" in terminal


def test_no_progress_bar_with_json_or_in_a_pipe(seeded):
    code, stdout, terminal = _run_with_stderr_on_a_terminal(seeded, "--json", "snapshot", "create")
    assert code == 0 and "%" not in terminal and stdout.lstrip().startswith("{")
    piped = seeded.run("snapshot", "create")
    assert piped.returncode == 0 and "%" not in piped.stderr
