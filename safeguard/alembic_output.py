"""What Alembic prints, and where: its INFO lines silenced while safeguard only looks,
its setup noise dropped from a run's log, its stdout sent to stderr (under --json
stdout carries one JSON document). Filters are added for a body and removed after it;
only `silence_alembic_info` (`safeguard -q`) lasts for the process."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator


def alembic_output_to_stderr() -> contextlib.AbstractContextManager:
    """Alembic (and a migration's own print()) write status lines to stdout; under
    --json stdout carries one JSON document and nothing else."""
    return contextlib.redirect_stdout(sys.stderr)


class _DropSetupNoise(logging.Filter):
    """Keep Alembic's "Running upgrade a -> b" lines; drop the two it prints before each
    (the implementation and transactional-DDL lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


class _DropInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


_ALEMBIC_INFO_LOGGERS = ("alembic.runtime.migration", "alembic.runtime.plugins")


def silence_alembic_info() -> None:
    """Drop Alembic's INFO lines for the rest of the process (`safeguard -q`)."""
    for name in _ALEMBIC_INFO_LOGGERS:
        logging.getLogger(name).addFilter(_DropInfo())


def without_setup_noise() -> contextlib.AbstractContextManager:
    """A run's log: Alembic's "Running upgrade a -> b" lines without the setup lines."""
    return _filtered(_DropSetupNoise())


def quiet_alembic() -> contextlib.AbstractContextManager:
    """Silence Alembic's INFO lines ("Context impl SQLiteImpl.") while safeguard only
    looks: it reads the revision far more often than a person would."""
    return _filtered(_DropInfo())


@contextlib.contextmanager
def _filtered(log_filter: logging.Filter) -> Iterator[None]:
    """A filter on Alembic's loggers for the body. Filters on loggers survive env.py's
    fileConfig(), which resets handlers and levels."""
    loggers = [logging.getLogger(name) for name in _ALEMBIC_INFO_LOGGERS]
    for logger in loggers:
        logger.addFilter(log_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(log_filter)
