"""Fault injection for the crash tests.

`SAFEGUARD_FAULT=<point>` (or `<point>#<n>` for the n-th time) makes the process kill
itself with SIGKILL when it reaches that point: no cleanup, no `finally`, exactly what
a power cut or the OOM killer does. Points are the journal's own lines
(`journal:<step>:<status>`, written just before) and a few places inside a
step (`sqlite:restore:swapped`, ...). Unset, this costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def point(name: str) -> None:
    """Die here if the environment asks for it."""
    wanted = os.environ.get("SAFEGUARD_FAULT")
    if not wanted:
        return
    target, _, nth = wanted.partition("#")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
