"""The baseline every snapshot and restore figure is set beside: `cp` + fsync.

A helper module, not a benchmark (the leading underscore keeps it out of `make bench`
and tests/test_benchmarks.py). `cp` copies with copy_file_range, as
`durable.kernel_copy` does, so the two compare the same kernel work; the fsync is what
makes the copy a backup rather than dirty pages.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def copy_fsync(src: Path, dst: Path) -> float:
    """Copy ``src`` to ``dst`` with `cp`, fsync it; the seconds it took."""
    started = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started
