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
