"""Stopping between runs: SIGTERM and SIGINT become a request the scheduler (or
`--once`) honours once the running job has finished."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("safeguard.schedule")


class StopRequest:
    """What a signal handler records. The handler does nothing else: it runs on the
    main thread between two bytecodes, possibly while that thread holds a lock (the
    scheduler's, an Event's, logging's), so taking any lock there could deadlock."""

    signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "?"


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Turn SIGTERM and SIGINT into a stop request for the body, then restore the old
    handlers. Off the main thread (an in-process test runner) signals are left alone."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def record(signum: int, _frame: object) -> None:
        if stop.signum is not None:
            # os.write is safe in a handler; logging (which locks) is not.
            os.write(2, b"safeguard: already stopping: waiting for the running job to finish\n")
        stop.signum = signum

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
