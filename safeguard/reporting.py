"""How a long operation talks to its caller while it works: a line per event (the
Reporter) and a progress bar per long step (the ProgressFactory). The CLI passes its
printer and its bars; the Python API's defaults say and show nothing."""

from __future__ import annotations

from typing import Callable

from .durable import Progress

Reporter = Callable[[str], None]
"""Receives one human-readable line per event; the CLI prints them, tests collect them."""

ProgressFactory = Callable[[str, int], Progress]
"""Makes the progress callback of one step from its label and its total in bytes."""


def silent(_line: str) -> None:
    """The Reporter that says nothing."""


def no_progress(_label: str, _total: int) -> Progress:
    """The ProgressFactory that shows nothing."""
    return None


def size_words(n: int) -> str:
    """A size in bytes as every message words it (one rule for the plan, the run, the
    store and the checks): whole bytes under 1 KiB, else binary units to one decimal,
    e.g. ``512 bytes``, ``44.0 KiB``, ``3.1 GiB``. JSON carries the exact byte count."""
    if n < 1024:
        return f"{n:,} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if round(value, 1) < 1024 or unit == "TiB":
            break
    return f"{value:,.1f} {unit}"
