"""Fault injection for the crash and fault tests.

`SAFEGUARD_FAULT=<point>` (or `<point>#<n>` for the n-th time) makes the process kill
itself with SIGKILL when it reaches that point: no cleanup, no `finally`, exactly what
a power cut or the OOM killer does. `SAFEGUARD_PAUSE=<point>` stops it there instead
(SIGSTOP), so a test can change the world under it at a known moment (fill the disk,
make the store read-only) and then let it go on with SIGCONT. Points are the journal's
own lines (`journal:<step>:<status>`, written just before) and a few places
inside a step (`sqlite:restore:swapped`, ...). Unset, this costs two dictionary lookups.
"""

from __future__ import annotations

import os
import signal

#: The environment variables that name a point, and what reaching it does.
ACTIONS = (("SAFEGUARD_FAULT", signal.SIGKILL), ("SAFEGUARD_PAUSE", signal.SIGSTOP))

_hits: dict[str, int] = {}


def point(name: str) -> None:
    """Die (or stop) here if the environment asks for it."""
    for variable, sig in ACTIONS:
        wanted = os.environ.get(variable)
        if wanted and _reached(variable, wanted, name):
            os.kill(os.getpid(), sig)


def _reached(variable: str, wanted: str, name: str) -> bool:
    """Whether this is the time ``wanted`` (`<point>` or `<point>#<n>`) names."""
    target, _, nth = wanted.partition("#")
    if target != name:
        return False
    key = f"{variable}:{name}"
    _hits[key] = _hits.get(key, 0) + 1
    return _hits[key] == int(nth or 1)
