"""Environment variables set for the body of a `with` and put back after it.

The library leaves its caller's process as it found it: where an unmodified env.py
(or the application's smoke check) can only learn the URL from ``DATABASE_URL``, the
variable is set while that code runs, and restored (or removed) when it returns.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Mapping


@contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in os.environ for the body; each variable's earlier value (or its
    absence) afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
