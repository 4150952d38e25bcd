"""The auxiliary databases a restore makes beside the live one ``D``:

    D__sg_restoring   the snapshot being loaded (never complete until the swap)
    D__sg_old         where the live tables go in the swap, dropped after it
    D__sg_verify      `snapshot verify`'s scratch copy
    D__sg_rehearse_T  rehearsal T's copy
    D__sg_beside_S    snapshot S restored beside the live data (beside.py;
                      D__sg_diff_S for `safeguard diff`)

A name longer than MySQL's 64 characters keeps the start of ``D`` and a hash of it.
"""

from __future__ import annotations

import hashlib

MAX = 64
TOKEN_LENGTH = 12


def _beside(live: str, suffix: str) -> str:
    name = f"{live}__sg_{suffix}"
    if len(name) <= MAX:
        return name
    tag = hashlib.sha256(live.encode()).hexdigest()[:8]
    return f"{live[:MAX - len(suffix) - 14]}_{tag}__sg_{suffix}"


def restoring(live: str) -> str:
    return _beside(live, "restoring")


def old(live: str) -> str:
    return _beside(live, "old")


def verify(live: str) -> str:
    return _beside(live, "verify")


def rehearsal(live: str, token: str) -> str:
    return _beside(live, f"rehearse_{token}")


def rehearsal_prefix(live: str) -> str:
    return rehearsal(live, "")


def beside(live: str, key: str) -> str:
    """The database of the beside copy ``key`` (``sg_beside_S`` or ``sg_diff_S``)."""
    return _beside(live, key[len("sg_"):])
