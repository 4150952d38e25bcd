"""How long a guarded run takes to put the database back after SIGTERM: from the signal
to the process's exit, on the example database and on a SQLite file of about 1 GiB,
beside `cp` + fsync of the same file measured in the same run (the restore copies,
hashes and checks the snapshot, then renames it over the database). With
SAFEGUARD_TEST_PG_URL set (scripts/pgtest.sh), the example database on PostgreSQL too.

    python benchmarks/interrupt_bench.py [--size-mb 1024] [--runs 3] [--dir DIR] [--quick]

Each run is the issue's story: `safeguard upgrade head` with a destructive revision (a
batch drop of a column, then a query that never ends); once that query runs, SIGTERM;
the time is until the process has exited (143) with the snapshot restored. The figures
are what a deploy job's grace period must cover (README: "Interrupting a run").
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _baseline import copy_fsync

REPO = Path(__file__).resolve().parents[1]
SEED_AT, HEAD = "1580131d7fd2", "869693962fcc"
SLOW = """\
with op.batch_alter_table("properties") as batch:
    batch.drop_column("zoning")
open({marker!r}, "w").close()
op.execute({query!r})
"""
QUERIES = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(3600)",
}


class Project:
    """A copy of the example project pointed at one database."""

    def __init__(self, root: Path, url: str) -> None:
        root.mkdir(parents=True)
        shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
        shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
        self.root, self.url = root, url
        self.marker = root / "slow-part-started"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "safeguard", "-q", "-c", str(self.root / "alembic.ini"),
                "--url", self.url, *args]

    def run(self, *args: str) -> None:
        subprocess.run(self.argv(*args), cwd=self.root, check=True, capture_output=True)

    def seed(self) -> None:
        self.run("upgrade", SEED_AT, "--create", "--policy", "never")
        subprocess.run([sys.executable, str(REPO / "scripts" / "seed_database.py")], cwd=REPO,
                       env={**os.environ, "DATABASE_URL": self.url}, check=True, capture_output=True)
        self.run("upgrade", HEAD, "--policy", "never")

    def add_slow_revision(self, engine: str) -> None:
        body = SLOW.format(marker=str(self.marker), query=QUERIES[engine])
        (self.root / "alembic" / "versions" / "a1b2c3d4e5f6_slow.py").write_text(
            '"""drops zoning, then a query that never ends"""\n'
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = 'a1b2c3d4e5f6'\ndown_revision = {HEAD!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n"
            + "".join(f"    {line}\n" for line in body.splitlines())
            + "\n\ndef downgrade():\n    pass\n")

    def undo_after_sigterm(self) -> tuple[float, float]:
        """(seconds from the start to the signal, seconds from the signal to the exit)."""
        self.marker.unlink(missing_ok=True)
        started = time.perf_counter()
        proc = subprocess.Popen(self.argv("upgrade", "head"), cwd=self.root,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not self.marker.exists():
            if proc.poll() is not None:
                raise SystemExit(f"the run ended early: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.005)
        time.sleep(0.2)  # the query is under way
        signalled = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=600)
        done = time.perf_counter()
        if proc.returncode != 143 or b"restored snapshot" not in err:
            raise SystemExit(f"expected exit 143 with the snapshot restored, got {proc.returncode}: "
                             f"{err.decode()[-2000:]}")
        return signalled - started, done - signalled


def add_ballast(db: Path, size_mb: int) -> None:
    """Grow the database to about ``size_mb`` MiB with a table of its own."""
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE ballast (id INTEGER PRIMARY KEY, payload BLOB)")
    conn.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) "
                 "INSERT INTO ballast (payload) SELECT randomblob(1048576) FROM n", (size_mb,))
    conn.commit()
    conn.close()


def _copy_once(src: Path) -> float:
    copy = src.with_name("cp-baseline")
    try:
        return copy_fsync(src, copy)
    finally:
        copy.unlink(missing_ok=True)


def measure(name: str, project: Project, engine: str, runs: int, baseline: Path | None) -> None:
    project.add_slow_revision(engine)
    times = [project.undo_after_sigterm() for _ in range(runs)]
    undo = statistics.median(t[1] for t in times)
    before = statistics.median(t[0] for t in times)
    line = (f"{name:<34} undo after SIGTERM {undo:6.2f} s (median of {runs}; the run had "
            f"reached its slow query after {before:.2f} s)")
    if baseline is not None:
        cp = statistics.median(_copy_once(baseline) for _ in range(runs))
        line += f"; cp + fsync of the file {cp:.2f} s, ratio {undo / cp:.1f}x"
    print(line, flush=True)


def postgres(workdir: Path, runs: int) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(os.environ["SAFEGUARD_TEST_PG_URL"])
    name = f"sg_bench_{secrets.token_hex(4)}"
    admin = dict(host=server.host, port=server.port, user=server.username,
                 password=server.password, dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        project = Project(workdir / "pg", url)
        project.seed()
        measure("example database, PostgreSQL", project, "postgresql", runs, None)
    finally:
        with psycopg.connect(**admin) as conn:
            for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                    (name + "%",)).fetchall():
                conn.execute(f'DROP DATABASE IF EXISTS "{row[0]}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (a real disk)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (for the test suite)")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.runs = 2, 1
    workdir = Path(tempfile.mkdtemp(prefix="interrupt-bench-", dir=args.dir))
    try:
        example = Project(workdir / "example", f"sqlite:///{workdir / 'example' / 'poolula.db'}")
        example.seed()
        db = workdir / "example" / "poolula.db"
        measure(f"example database, SQLite ({db.stat().st_size / 1024:.0f} KiB)", example, "sqlite",
                args.runs, db)

        large = Project(workdir / "large", f"sqlite:///{workdir / 'large' / 'poolula.db'}")
        large.seed()
        big = workdir / "large" / "poolula.db"
        add_ballast(big, args.size_mb)
        measure(f"SQLite, {big.stat().st_size / 2**30:.2f} GiB", large, "sqlite", args.runs, big)

        if os.environ.get("SAFEGUARD_TEST_PG_URL"):
            postgres(workdir, args.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
