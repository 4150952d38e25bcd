"""How long a PostgreSQL snapshot and restore take, per strategy, beside plain pg_dump
and pg_restore run against the same database in the same session.

    python benchmarks/pg_snapshot_bench.py [--size-mb 1024] [--runs 3] [--jobs 2] [--quick]

Builds a database of about --size-mb with generate_series (an `events` table with a
primary key and a secondary index, and a small `accounts` table it references), then
times, --runs times each, and prints the medians:

    safeguard custom       PostgresBackend, pg_format = custom
    safeguard directory    PostgresBackend, pg_format = directory, pg_jobs = --jobs
    safeguard template     PostgresBackend, pg_strategy = template
    plain -Fc              pg_dump -Fc / createdb + pg_restore
    plain -Fd -jN          pg_dump -Fd -jN / createdb + pg_restore -jN

A safeguard snapshot includes counting every table in the dump's own snapshot; a
safeguard restore includes creating the database, pg_restore (with --jobs), ANALYZE
and the rename swap, i.e. everything a rollback costs. The server is
SAFEGUARD_TEST_PG_URL if set; otherwise the script re-runs itself under
scripts/pgtest.sh, which starts (and afterwards deletes) a throwaway cluster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from safeguard.backends import backend_for  # noqa: E402 - after sys.path is set above
from safeguard.config import Settings  # noqa: E402 - after sys.path is set above
from safeguard.manifest import Snapshot  # noqa: E402 - after sys.path is set above

DATABASE = "sg_bench"
CHUNK_ROWS = 500_000
CALIBRATION_ROWS = 20_000
MIB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="database size to build (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs per strategy; the median is shown (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs for the directory format (default 2)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where dumps are written (default: a temporary directory)")
    parser.add_argument("--quick", action="store_true", help="a tiny database, one run (for the test suite)")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.runs = 4, 1

    raw = os.environ.get("SAFEGUARD_TEST_PG_URL")
    if not raw:
        # No server given: start a throwaway one around this very script.
        script = REPO / "scripts" / "pgtest.sh"
        os.execv(str(script), [str(script), "run", sys.executable, *sys.argv])
    url = make_url(raw).set(drivername="postgresql+psycopg")
    bindir = os.environ.get("SAFEGUARD_TEST_PG_BINDIR") or None
    bench = Bench(url, bindir, args.jobs)

    workdir = Path(tempfile.mkdtemp(prefix="sg-bench-", dir=args.workdir))
    try:
        built = bench.build(args.size_mb)
        print(f"database {DATABASE}: {built / MIB:,.0f} MiB ({bench.rows:,} events), "
              f"{args.runs} run(s) each, jobs {args.jobs}", flush=True)
        rows = bench.measure(bench.cases(), workdir, args.runs)
        print_table(rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        bench.drop(DATABASE)


class Bench:
    """The server, the benchmark database, and one way of timing each strategy."""

    def __init__(self, url, bindir: str | None, jobs: int) -> None:
        self.url = url
        self.bindir = bindir
        self.jobs = jobs
        self.rows = 0

    # -- setup -------------------------------------------------------------------

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                               password=self.url.password, dbname=database, autocommit=True)

    def drop(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def build(self, size_mb: int) -> int:
        """Fill the benchmark database to about ``size_mb`` MiB; its size in bytes."""
        self.drop(DATABASE)
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        with self.admin(DATABASE) as conn:
            conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL)")
            conn.execute("INSERT INTO accounts SELECT i, 'account ' || i FROM generate_series(1, 1000) i")
            conn.execute(
                "CREATE TABLE events (id bigint PRIMARY KEY, account int NOT NULL REFERENCES accounts, "
                "created timestamptz NOT NULL, amount numeric(12, 2) NOT NULL, note text)")
            conn.execute("CREATE INDEX ix_events_account ON events (account, created)")
            target = size_mb * MIB
            empty = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            self._insert(conn, CALIBRATION_ROWS)
            while True:
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                print(f"  built {size / MIB:,.0f} of {size_mb:,} MiB", file=sys.stderr, flush=True)
                # Rows still needed, estimated from the bytes each row has cost so far.
                remaining = int((target - size) / ((size - empty) / self.rows))
                if remaining <= 0:
                    break
                self._insert(conn, min(remaining, CHUNK_ROWS))
            conn.execute("VACUUM ANALYZE")  # hint bits set now, not during the first dump
            return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def _insert(self, conn: psycopg.Connection, n: int) -> None:
        start = self.rows + 1
        conn.execute(
            "INSERT INTO events SELECT i, 1 + i %% 1000, "
            "timestamptz '2024-01-01' + i * interval '1 second', (i %% 100000) / 100.0, "
            "CASE WHEN i %% 7 = 0 THEN NULL ELSE md5(i::text) || ' ' || md5((i * 31)::text) END "
            "FROM generate_series(%s::bigint, %s::bigint) i", (start, start + n - 1))
        self.rows += n

    # -- the cases -----------------------------------------------------------------

    def cases(self) -> list[tuple[str, Callable[[Path], tuple[float, float, int]]]]:
        jobs = self.jobs
        return [
            ("safeguard custom", lambda d: self.safeguard(d, pg_format="custom")),
            (f"safeguard directory -j{jobs}", lambda d: self.safeguard(d, pg_format="directory")),
            ("safeguard template", lambda d: self.safeguard(d, pg_strategy="template")),
            ("plain pg_dump -Fc / pg_restore", lambda d: self.plain(d, "custom", 1)),
            (f"plain pg_dump -Fd -j{jobs} / pg_restore -j{jobs}", lambda d: self.plain(d, "directory", jobs)),
        ]

    def measure(self, cases: list[tuple[str, Callable[[Path], tuple[float, float, int]]]],
                workdir: Path, runs: int) -> list[tuple[str, float, float, int]]:
        """Median snapshot and restore time of each case. The cases take turns within
        each run, so a change in the machine's load mid-benchmark hits them all alike."""
        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in cases}
        sizes: dict[str, int] = {}
        for i in range(runs):
            for n, (name, run) in enumerate(cases):
                directory = workdir / f"case{n}-run{i}"
                directory.mkdir()
                snap, restore, sizes[name] = run(directory)
                shutil.rmtree(directory, ignore_errors=True)
                times[name][0].append(snap)
                times[name][1].append(restore)
                print(f"  run {i + 1}: {name}: snapshot {snap:.2f}s, restore {restore:.2f}s",
                      file=sys.stderr, flush=True)
        return [(name, statistics.median(times[name][0]), statistics.median(times[name][1]),
                 sizes[name]) for name, _ in cases]

    def safeguard(self, directory: Path, **keys: str) -> tuple[float, float, int]:
        settings = Settings(config_file=directory / "alembic.ini", pg_bindir=self.bindir,
                            pg_jobs=self.jobs, **keys)
        url = self.url.set(database=DATABASE)
        backend = backend_for(url, settings)
        started = time.perf_counter()
        payload = backend.snapshot(directory)
        snap = time.perf_counter() - started
        manifest = Snapshot(id="bench", created_at="", reason="bench", engine=backend.engine,
                            database="", revisions=(), size=payload.size, sha256="",
                            files=dict(payload.files), row_counts=dict(payload.row_counts),
                            extra=dict(payload.extra))
        started = time.perf_counter()
        backend.restore(directory, manifest)
        restore = time.perf_counter() - started
        size = payload.extra.get("template_size") or payload.size
        backend.discard(directory, manifest)
        return snap, restore, int(size)

    def plain(self, directory: Path, fmt: str, jobs: int) -> tuple[float, float, int]:
        target = directory / ("dump.fc" if fmt == "custom" else "dump.d")
        parallel = [f"--jobs={jobs}"] if jobs > 1 else []
        env = {**os.environ, "PGPASSWORD": self.url.password or ""}
        conninfo = f"host={self.url.host} port={self.url.port} user={self.url.username}"
        started = time.perf_counter()
        subprocess.run([self._tool("pg_dump"), f"--format={fmt}", f"--file={target}", *parallel,
                        f"--dbname={conninfo} dbname={DATABASE}"], env=env, check=True)
        snap = time.perf_counter() - started
        copy = f"{DATABASE}_plain"
        self.drop(copy)
        started = time.perf_counter()
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE template0')
        subprocess.run([self._tool("pg_restore"), *parallel, f"--dbname={conninfo} dbname={copy}",
                        str(target)], env=env, check=True)
        restore = time.perf_counter() - started
        self.drop(copy)
        size = sum(p.stat().st_size for p in ([target] if target.is_file() else target.iterdir()))
        return snap, restore, size

    def _tool(self, name: str) -> str:
        return str(Path(self.bindir) / name) if self.bindir else name


def print_table(rows: list[tuple[str, float, float, int]]) -> None:
    """Medians, and each as a multiple of plain pg_dump -Fc / pg_restore."""
    base = next(r for r in rows if r[0].startswith("plain pg_dump -Fc"))
    print()
    print(f"{'strategy':<40} {'snapshot s':>10} {'x plain':>8} {'restore s':>10} {'x plain':>8} "
          f"{'payload MiB':>12}")
    for name, snap, restore, size in rows:
        print(f"{name:<40} {snap:>10.2f} {snap / base[1]:>8.2f} {restore:>10.2f} "
              f"{restore / base[2]:>8.2f} {size / MIB:>12.1f}")
    print("\n(template: the payload is a database on the server; its size is shown)")


if __name__ == "__main__":
    main()
