"""How long a PostgreSQL snapshot and restore take: the pg_dump formats and
compressions measured side by side, and safeguard's own `snapshot create` and
`restore ID --yes` beside plain pg_dump -Fc and pg_restore, in the same run.

    python benchmarks/pg_snapshot_bench.py [--size-mb 900] [--runs 3] [--jobs 2] [--quick]

Builds a database of about --size-mb with generate_series (an `events` table of many
small rows with a primary key and a secondary index, a small `accounts` table it
references, and a `documents` table of wider rows), then times, --runs times each, and
prints the medians (wall time, payload size):

    pg_dump -Fc / pg_restore             the baseline (default compression, one job)
    pg_dump -Fc -Z0 / -Z1                custom format, no or the fastest gzip
    pg_dump -Fc -Z0 | zstd-1 (ours)      uncompressed dump compressed by the zstandard
                                         package on two threads; restored through a pipe
    pg_dump -Fd -jN [-Z0|-Z1] / pg_restore -jN   the directory format, in parallel
    safeguard snapshot create            the command, as a user runs it (count rows,
                                         dump, digest, manifest)
    safeguard restore ID --yes           the command: verify the digest, keep the state it
                                         replaces as the safety snapshot, restore, swap,
                                         re-verify, health checks

and, for the two safeguard commands, the peak resident memory of the process (with the
client tools it waits for). The server is SAFEGUARD_TEST_PG_URL if set; otherwise the
script re-runs itself under scripts/pgtest.sh, which starts (and afterwards deletes) a
throwaway cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]

DATABASE = "sg_bench"
CHUNK_ROWS = 500_000
CALIBRATION_ROWS = 20_000
MIB = 1024 * 1024
#: The project the safeguard commands run in: no revisions, the bench database at base.
ENV_PY = """\
from alembic import context
from sqlalchemy import create_engine, pool

engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""


@dataclass
class Sample:
    """One run of one case."""

    snapshot: float
    restore: float
    size: int
    peak_rss: int = 0  # bytes; 0 where not measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=900, help="database size to build (default 900)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the median is shown (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs for the directory format (default 2)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where dumps are written (default: a temporary directory)")
    parser.add_argument("--only-safeguard", action="store_true",
                        help="only the safeguard commands and the pg_dump -Fc baseline")
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
              f"{args.runs} run(s) each, jobs {args.jobs}, load average {_load()}", flush=True)
        cases = bench.cases(only_safeguard=args.only_safeguard)
        rows = bench.measure(cases, workdir, args.runs)
        print_table(rows)
        print(f"load average at the end: {_load()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        bench.drop_all()


class Bench:
    """The server, the benchmark database, and one way of timing each case."""

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

    def drop_all(self) -> None:
        """The bench database and every database derived from it (kept, copies)."""
        with self.admin() as conn:
            found = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (DATABASE + "%",))]
        for name in found:
            self.drop(name)

    def build(self, size_mb: int) -> int:
        """Fill the benchmark database to about ``size_mb`` MiB; its size in bytes.
        Nine tenths are many small rows under two indexes, a tenth wider rows."""
        self.drop_all()
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        with self.admin(DATABASE) as conn:
            conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL)")
            conn.execute("INSERT INTO accounts SELECT i, 'account ' || i FROM generate_series(1, 1000) i")
            conn.execute(
                "CREATE TABLE events (id bigint PRIMARY KEY, account int NOT NULL REFERENCES accounts, "
                "created timestamptz NOT NULL, amount numeric(12, 2) NOT NULL, note text)")
            conn.execute("CREATE INDEX ix_events_account ON events (account, created)")
            conn.execute("CREATE TABLE documents (id int PRIMARY KEY, account int NOT NULL "
                         "REFERENCES accounts, body text NOT NULL, meta jsonb NOT NULL)")
            wide = max(1, size_mb // 10) * MIB // 2200  # ~2.2 kB per document row
            conn.execute(
                "INSERT INTO documents SELECT i, 1 + i %% 1000, "
                "(SELECT string_agg(md5((i * 64 + j)::text), ' ') FROM generate_series(1, 64) j), "
                "jsonb_build_object('i', i, 'tag', md5(i::text)) FROM generate_series(1, %s) i", (wide,))
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

    def cases(self, *, only_safeguard: bool = False) -> list[tuple[str, Callable[[Path], Sample]]]:
        j = self.jobs
        baseline = [("pg_dump -Fc / pg_restore", lambda d: self.plain(d, "custom", 1))]
        safeguard = [("safeguard snapshot create / restore ID --yes", self.safeguard)]
        if only_safeguard:
            return baseline + safeguard
        return baseline + [
            ("pg_dump -Fc -Z0 / pg_restore", lambda d: self.plain(d, "custom", 1, "0")),
            ("pg_dump -Fc -Z1 / pg_restore", lambda d: self.plain(d, "custom", 1, "1")),
            ("pg_dump -Fc -Z0 | zstd-1 x2 (ours)", self.zstd_stream),
            (f"pg_dump -Fd -j{j} / pg_restore -j{j}", lambda d: self.plain(d, "directory", j)),
            (f"pg_dump -Fd -j{j} -Z0 / pg_restore -j{j}", lambda d: self.plain(d, "directory", j, "0")),
            (f"pg_dump -Fd -j{j} -Z1 / pg_restore -j{j}", lambda d: self.plain(d, "directory", j, "1")),
        ] + safeguard

    def measure(self, cases: list[tuple[str, Callable[[Path], Sample]]], workdir: Path,
                runs: int) -> list[tuple[str, Sample]]:
        """Median of each figure of each case. The cases take turns within each run, so
        a change in the machine's load mid-benchmark hits them all alike."""
        samples: dict[str, list[Sample]] = {name: [] for name, _ in cases}
        for i in range(runs):
            for n, (name, run) in enumerate(cases):
                directory = workdir / f"case{n}-run{i}"
                directory.mkdir()
                try:
                    sample = run(directory)
                finally:
                    shutil.rmtree(directory, ignore_errors=True)
                samples[name].append(sample)
                print(f"  run {i + 1}: {name}: snapshot {sample.snapshot:.2f}s, restore "
                      f"{sample.restore:.2f}s, {sample.size / MIB:.1f} MiB (load {_load()})",
                      file=sys.stderr, flush=True)
        return [(name, Sample(*(statistics.median(getattr(s, f) for s in samples[name])
                                for f in ("snapshot", "restore", "size", "peak_rss"))))
                for name, _ in cases]

    # -- plain client tools --------------------------------------------------------

    def conninfo(self, database: str) -> str:
        return f"host={self.url.host} port={self.url.port} user={self.url.username} dbname={database}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.url.password or ""}

    def plain(self, directory: Path, fmt: str, jobs: int, compress: str | None = None) -> Sample:
        target = directory / ("dump.fc" if fmt == "custom" else "dump.d")
        parallel = [f"--jobs={jobs}"] if jobs > 1 else []
        level = [f"--compress={compress}"] if compress is not None else []
        started = time.perf_counter()
        subprocess.run([self._tool("pg_dump"), f"--format={fmt}", f"--file={target}", *parallel,
                        *level, f"--dbname={self.conninfo(DATABASE)}"], env=self.env(), check=True)
        snap = time.perf_counter() - started
        restore = self._restore(lambda copy: subprocess.run(
            [self._tool("pg_restore"), *parallel, f"--dbname={self.conninfo(copy)}", str(target)],
            env=self.env(), check=True))
        return Sample(snap, restore, _tree_size(target))

    def zstd_stream(self, directory: Path) -> Sample:
        """pg_dump -Fc -Z0 into zstandard (level 1, two threads) on our side; restored
        by decompressing into pg_restore's stdin (one job: a pipe cannot be seeked)."""
        import zstandard

        target = directory / "dump.fc.zst"
        started = time.perf_counter()
        dump = subprocess.Popen([self._tool("pg_dump"), "--format=custom", "--compress=0",
                                 f"--dbname={self.conninfo(DATABASE)}"], env=self.env(),
                                stdout=subprocess.PIPE)
        with open(target, "wb") as out:
            zstandard.ZstdCompressor(level=1, threads=2).copy_stream(dump.stdout, out)
            out.flush()
            os.fsync(out.fileno())
        if dump.wait() != 0:
            raise RuntimeError("pg_dump failed")
        snap = time.perf_counter() - started

        def restore(copy: str) -> None:
            proc = subprocess.Popen([self._tool("pg_restore"), f"--dbname={self.conninfo(copy)}"],
                                    env=self.env(), stdin=subprocess.PIPE)
            with open(target, "rb") as raw:
                zstandard.ZstdDecompressor().copy_stream(raw, proc.stdin)
            proc.stdin.close()
            if proc.wait() != 0:
                raise RuntimeError("pg_restore failed")

        return Sample(snap, self._restore(restore), target.stat().st_size)

    def _restore(self, into: Callable[[str], object]) -> float:
        """Seconds to create an empty database and restore into it (then dropped)."""
        copy = f"{DATABASE}_plain"
        self.drop(copy)
        started = time.perf_counter()
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE template0')
        into(copy)
        took = time.perf_counter() - started
        self.drop(copy)
        return took

    def _tool(self, name: str) -> str:
        return str(Path(self.bindir) / name) if self.bindir else name

    # -- safeguard, as a user runs it ------------------------------------------------

    def safeguard(self, directory: Path) -> Sample:
        """`safeguard snapshot create`, then `safeguard restore ID --yes` of it, each
        a process of its own (its peak memory measured); the state the restore
        replaced is dropped afterwards, with the store."""
        project = directory / "project"
        (project / "migrations" / "versions").mkdir(parents=True)
        (project / "migrations" / "env.py").write_text(ENV_PY)
        url = self.url.set(database=DATABASE).render_as_string(hide_password=False)
        (project / "alembic.ini").write_text(
            "[alembic]\nscript_location = %(here)s/migrations\n\n[safeguard]\n"
            f"store = {directory / 'store'}\npg_jobs = {self.jobs}\n"
            + (f"pg_bindir = {self.bindir}\n" if self.bindir else ""))
        run = lambda *argv: _timed([sys.executable, "-m", "safeguard", "-c",  # noqa: E731
                                    str(project / "alembic.ini"), "--url", url, "--json", *argv],
                                   cwd=project)
        snap, created, rss_snap = run("snapshot", "create")
        snapshot = json.loads(created)
        restore, _, rss_restore = run("restore", snapshot["id"], "--yes")
        with self.admin() as conn:  # the safety snapshot: a kept database, or a dump
            kept = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (DATABASE + ".sg-%",))]
        for name in kept:
            self.drop(name)
        return Sample(snap, restore, int(snapshot["size"]), max(rss_snap, rss_restore))


def _timed(argv: list[str], *, cwd: Path) -> tuple[float, str, int]:
    """Run a command to the end: seconds, its stdout, and its peak resident bytes (of
    the process, or of a client tool it waited for if that was larger: wait4's figure)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(REPO)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[8:])} failed ({proc.returncode}): {err.read().strip()}")
        return took, out.read(), usage.ru_maxrss * 1024


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_table(rows: list[tuple[str, Sample]]) -> None:
    """Medians, each beside pg_dump -Fc / pg_restore of the same run."""
    base = rows[0][1]
    print()
    print(f"| {'case':<46} | {'dump s':>7} | {'x -Fc':>6} | {'restore s':>9} | {'x pg_restore':>12} "
          f"| {'MiB':>7} | {'peak RSS MiB':>12} |")
    print(f"|{'-' * 48}|{'-' * 9}|{'-' * 8}|{'-' * 11}|{'-' * 14}|{'-' * 9}|{'-' * 14}|")
    for name, s in rows:
        rss = f"{s.peak_rss / MIB:.0f}" if s.peak_rss else "-"
        print(f"| {name:<46} | {s.snapshot:>7.2f} | {s.snapshot / base.snapshot:>6.2f} | "
              f"{s.restore:>9.2f} | {s.restore / base.restore:>12.2f} | {s.size / MIB:>7.1f} "
              f"| {rss:>12} |")


if __name__ == "__main__":
    main()
