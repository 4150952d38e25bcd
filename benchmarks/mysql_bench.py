"""How long a MariaDB (MySQL) snapshot and restore take, beside plain mariadb-dump and
loading that dump with mariadb, run against the same database in the same session.

    python benchmarks/mysql_bench.py [--size-mb 500] [--runs 3] [--only snapshot] [--quick]

Builds a database of about --size-mb (an `events` InnoDB table with a primary key and
a secondary index, and a small `accounts` table it references), then times, --runs
times each, and prints the medians:

    safeguard snapshot   MySQLBackend.snapshot: FLUSH TABLES WITH READ LOCK while every
                         table is counted, mariadb-dump --single-transaction streamed
                         into the store and hashed (BLAKE3)
    plain dump           mariadb-dump --single-transaction --routines --triggers
                         --events DB > file, then fsync (as safeguard's payload is)
    safeguard restore    MySQLBackend.restore: load beside (digest proved on the way),
                         count, one RENAME TABLE swap, drop the old tables
    plain load           CREATE DATABASE; mariadb DB < file

The server is SAFEGUARD_TEST_MYSQL_URL if set; otherwise the script re-runs itself
under scripts/mysqltest.sh, which starts (and afterwards deletes) a throwaway server.
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

from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from safeguard.backends import backend_for  # noqa: E402 - after sys.path is set above
from safeguard.backends.mysql.server import Server  # noqa: E402 - after sys.path is set above
from safeguard.manifest import Snapshot  # noqa: E402 - after sys.path is set above

DATABASE = "sg_bench"
PLAIN = "sg_bench_plain"
MIB = 1024 * 1024
CHUNK_ROWS = 200_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=500, help="database size to build (default 500)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the median is shown (default 3)")
    parser.add_argument("--only", choices=("snapshot",), default=None,
                        help="time the snapshot pair only (the restore pair needs both dumps)")
    parser.add_argument("--quick", action="store_true", help="a tiny database, one run (for the test suite)")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.runs = 4, 1
    raw = os.environ.get("SAFEGUARD_TEST_MYSQL_URL")
    if not raw:
        script = REPO / "scripts" / "mysqltest.sh"
        os.execv(str(script), [str(script), "run", sys.executable, *sys.argv])
    url = make_url(raw).set(database=DATABASE)
    server = Server.from_url(url)
    workdir = Path(tempfile.mkdtemp(prefix="sg-mysql-bench-"))
    try:
        size = build(server, args.size_mb)
        print(f"database {DATABASE}: {size / MIB:,.0f} MiB (InnoDB data + indexes), "
              f"{args.runs} run(s) each, load average {os.getloadavg()[0]:.2f}", flush=True)
        backend = backend_for(url)
        dump_file = workdir / "plain.sql"
        snap = workdir / "snap"

        def safeguard_snapshot() -> None:
            shutil.rmtree(snap, ignore_errors=True)
            snap.mkdir()
            safeguard_snapshot.payload = backend.snapshot(snap)  # type: ignore[attr-defined]

        def plain_dump() -> None:
            tool = shutil.which("mariadb-dump") or "mysqldump"
            with server.option_file() as (options, env), open(dump_file, "wb") as out:
                subprocess.run([tool, f"--defaults-extra-file={options}", "--single-transaction",
                                "--routines", "--triggers", "--events", "--hex-blob", DATABASE],
                               stdout=out, env=env, check=True)
                # A backup is on disk, not in dirty pages: safeguard fsyncs its payload,
                # and the SQLite baseline is `cp` + fsync for the same reason.
                os.fsync(out.fileno())

        def safeguard_restore() -> None:
            payload = safeguard_snapshot.payload  # type: ignore[attr-defined]
            backend.restore(snap, Snapshot(
                id="bench", created_at="", reason="bench", engine="mysql", database="-",
                revisions=(), size=payload.size, sha256="-", files=dict(payload.files),
                row_counts=dict(payload.row_counts), extra=dict(payload.extra)))

        def plain_load() -> None:
            tool = shutil.which("mariadb") or "mysql"
            execute(server, f"DROP DATABASE IF EXISTS {PLAIN}", f"CREATE DATABASE {PLAIN}")
            with server.option_file() as (options, env), open(dump_file, "rb") as source:
                subprocess.run([tool, f"--defaults-extra-file={options}", f"--database={PLAIN}"],
                               stdin=source, env=env, check=True)

        pairs: list[tuple[str, Callable[[], None], str, Callable[[], None]]] = [
            ("safeguard snapshot", safeguard_snapshot, "dump + fsync", plain_dump),
            ("safeguard restore", safeguard_restore, "plain load", plain_load),
        ]
        if args.only == "snapshot":
            pairs = pairs[:1]
        print(f"{'case':<20}{'median s':>10}   {'baseline':<12}{'median s':>10}   ratio")
        for name, ours, base_name, base in pairs:
            mine, theirs = [], []
            for _ in range(args.runs):
                theirs.append(timed(base))
                mine.append(timed(ours))
            a, b = statistics.median(mine), statistics.median(theirs)
            print(f"{name:<20}{a:>10.2f}   {base_name:<12}{b:>10.2f}   {a / b:.2f}x", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        execute(server, f"DROP DATABASE IF EXISTS {DATABASE}", f"DROP DATABASE IF EXISTS {PLAIN}")


def timed(action: Callable[[], None]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def execute(server: Server, *statements: str) -> None:
    with server.connect(None) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def build(server: Server, size_mb: int) -> int:
    """Fill the benchmark database to about ``size_mb`` MiB; its size in bytes."""
    execute(server, f"DROP DATABASE IF EXISTS {DATABASE}", f"CREATE DATABASE {DATABASE}")
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB")
        cur.execute("INSERT INTO accounts SELECT seq, concat('account ', seq) FROM seq_1_to_1000")
        cur.execute("CREATE TABLE events (id BIGINT PRIMARY KEY, account INT NOT NULL, "
                    "created DATETIME NOT NULL, amount DECIMAL(12, 2) NOT NULL, note VARCHAR(80), "
                    "KEY ix_events_account (account, created), "
                    "FOREIGN KEY (account) REFERENCES accounts (id)) ENGINE=InnoDB")
        rows, chunk = 0, CHUNK_ROWS if size_mb >= 100 else 10_000
        while True:
            cur.execute("ANALYZE TABLE events")
            cur.execute("SELECT coalesce(sum(data_length + index_length), 0) FROM information_schema.tables "
                        "WHERE table_schema = %s", (DATABASE,))
            size = int(cur.fetchone()[0])
            print(f"  built {size / MIB:,.0f} of {size_mb:,} MiB", file=sys.stderr, flush=True)
            if size >= size_mb * MIB:
                return size
            cur.execute(
                f"INSERT INTO events SELECT {rows} + seq, 1 + seq % 1000, "
                f"'2024-01-01' + INTERVAL ({rows} + seq) SECOND, (seq % 100000) / 100.0, "
                f"IF(seq % 7 = 0, NULL, concat(md5(seq), ' ', md5(seq * 31))) "
                f"FROM seq_1_to_{chunk}")
            rows += chunk


if __name__ == "__main__":
    main()
