"""Every benchmark runs in its quick mode (tiny sizes, one run), so a rename in the
library breaks the test suite rather than a benchmark nobody has run since. Nothing
here is timed: the figures are the benchmarks' business."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

#: Every benchmark; `_`-prefixed files are helpers they share, not benchmarks.
BENCHMARKS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", [pytest.param(path, id=path.stem) for path in BENCHMARKS])
def test_the_benchmark_runs_in_its_quick_mode(script: Path):
    if script.stem.startswith("pg_"):
        if not os.environ.get("SAFEGUARD_TEST_PG_URL"):
            pytest.skip("no PostgreSQL server: SAFEGUARD_TEST_PG_URL is not set")
    if script.stem.startswith("mysql_"):
        if not os.environ.get("SAFEGUARD_TEST_MYSQL_URL"):
            pytest.skip("no MariaDB server: SAFEGUARD_TEST_MYSQL_URL is not set")
    # As a developer runs them: no DATABASE_URL of the test environment's.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run([sys.executable, str(script), "--quick"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{script.name} --quick failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{script.name} --quick printed no figures"
