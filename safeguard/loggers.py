"""safeguard's loggers survive the project's own logging setup.

Alembic's env.py template calls ``fileConfig(config.config_file_name)``, whose default
``disable_existing_loggers=True`` disables every existing logger the ini does not name,
safeguard's among them: `-v` printed nothing from then on. `Kept` notes which of
safeguard's loggers are enabled before env.py runs, and enables exactly those again
once env.py has set up its logging (at its ``context.configure`` call) and when it is
done. Nothing else of the caller's logging is touched, and a logger the caller had
disabled stays disabled.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

ROOT = "safeguard"


class Kept:
    """The safeguard loggers enabled now, to be enabled again by `restore`."""

    def __init__(self) -> None:
        self.enabled = [logger for logger in _ours() if not logger.disabled]

    def restore(self) -> None:
        for logger in self.enabled:
            logger.disabled = False


@contextlib.contextmanager
def kept() -> Iterator[Kept]:
    """safeguard's loggers, enabled on the way out as they were on the way in."""
    state = Kept()
    try:
        yield state
    finally:
        state.restore()


def _ours() -> list[logging.Logger]:
    found = [logging.getLogger(ROOT)]
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(ROOT + ".") and isinstance(logger, logging.Logger):
            found.append(logger)
    return found
