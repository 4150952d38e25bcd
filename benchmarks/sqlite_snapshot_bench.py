"""Snapshot and restore of a large SQLite database, beside `cp` + fsync of the same file.

    python benchmarks/sqlite_snapshot_bench.py [--size-mb 1024] [--runs 3] [--dir DIR] [--quick]

Every operation runs in a child process, so its peak memory (ru_maxrss, from wait4) is
its own; times are wall-clock medians over --runs, measured inside the child around the
operation alone (not the interpreter's start-up), each run starting after `sync`. All operations read a file that is
warm in the page cache, the baseline included, and each writes and fsyncs a new file.
Targets (issue 6): snapshot and restore within 2x of `cp` + fsync, peak memory under
100 MiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_database(path: Path, size_mb: int) -> None:
    """A database of about ``size_mb`` MiB whose rows compress about as well as a real
    application's (text, numbers, some noise)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, account TEXT, kind TEXT, "
                 "amount INTEGER, note TEXT, payload TEXT)")
    rows = size_mb * 1024 * 1024 // 513  # bytes per row on disk, measured
    conn.execute(
        """
        WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
        INSERT INTO events (account, kind, amount, note, payload)
        SELECT printf('acct-%06d', x % 5000), 'kind-' || (x % 17), abs(random() % 100000),
               'payment received for invoice ' || x || ' from customer ' || (x % 997),
               hex(randomblob(96)) || printf('%0200d', x)
        FROM n
        """,
        (rows,),
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def child(code: str) -> tuple[float, int]:
    """Run ``code`` in a child Python; (seconds it reported, peak RSS in KiB). The code
    sets ``T0`` after its imports; the child prints the time elapsed since."""
    program = "import time\nfrom pathlib import Path\n" + textwrap.dedent(code) + "\nprint(time.perf_counter() - T0)\n"
    proc = subprocess.Popen([sys.executable, "-c", program], cwd=REPO, stdout=subprocess.PIPE, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed:\n{program}")
    return float(output.strip().splitlines()[-1]), usage.ru_maxrss


def cp_and_fsync(src: Path, dst: Path) -> str:
    return f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        from _baseline import copy_fsync
        T0 = time.perf_counter()
        copy_fsync(Path({str(src)!r}), Path({str(dst)!r}))
    """


def snapshot(db: Path, store: Path, compression: str) -> str:
    return f"""
        from pathlib import Path
        from sqlalchemy.engine import make_url
        from safeguard.backends.sqlite import SQLiteBackend
        from safeguard.config import Settings
        from safeguard.store import SnapshotStore
        settings = Settings(config_file=Path("alembic.ini"), compression={compression!r})
        T0 = time.perf_counter()
        backend = SQLiteBackend(make_url("sqlite:///{db}"), settings)
        snap = SnapshotStore(Path({str(store)!r})).create(backend, reason="bench", revisions=())
        Path({str(store / 'last-id')!r}).write_text(snap.id)
    """


def restore(db: Path, store: Path) -> str:
    return f"""
        from pathlib import Path
        from sqlalchemy.engine import make_url
        from safeguard.backends.sqlite import SQLiteBackend
        from safeguard.store import SnapshotStore
        store = SnapshotStore(Path({str(store)!r}))
        T0 = time.perf_counter()
        snap = store.get(Path({str(store / 'last-id')!r}).read_text())
        SQLiteBackend(make_url("sqlite:///{db}")).restore(store.path_of(snap.id), snap)
    """


def measure(label: str, code: str, runs: int, before=None) -> tuple[str, float, int]:
    times, peaks = [], []
    for _ in range(runs):
        if before:
            before()
        # Start every run with no dirty pages waiting: otherwise each fsync also pays
        # for the writeback the previous run left behind.
        os.sync()
        elapsed, peak = child(code)
        times.append(elapsed)
        peaks.append(peak)
    return label, statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="a tiny database, one run (for the test suite)")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.runs = 2, 1

    work = Path(tempfile.mkdtemp(prefix="sg-bench-", dir=args.dir))
    try:
        db = work / "bench.db"
        print(f"building a {args.size_mb} MiB database in {work} ...", flush=True)
        build_database(db, args.size_mb)
        size = db.stat().st_size
        print(f"database: {size / 1048576:.0f} MiB, {args.runs} runs each, medians\n")

        copy = work / "copy.db"
        results = [measure("cp + fsync (baseline)", cp_and_fsync(db, copy), args.runs,
                           before=lambda: copy.unlink(missing_ok=True))]
        baseline = results[0][1]
        for compression in ("none", "zstd"):
            store = work / f"store-{compression}"

            def fresh_store(store=store):
                shutil.rmtree(store, ignore_errors=True)
                store.mkdir()

            results.append(measure(f"snapshot ({compression})", snapshot(db, store, compression),
                                   args.runs, before=fresh_store))
            snap_dir = next(p for p in (store / "snapshots").iterdir() if not p.name.startswith("."))
            stored = sum(f.stat().st_size for f in snap_dir.iterdir())
            print(f"  {compression}: snapshot payload {stored / 1048576:.0f} MiB "
                  f"({stored / size:.0%} of the database)")
            results.append(measure(f"restore ({compression})", restore(db, store), args.runs))

        print(f"\n{'operation':<24} {'median s':>9} {'x cp+fsync':>11} {'peak RSS MiB':>13}")
        for label, median, peak_kib in results:
            print(f"{label:<24} {median:>9.2f} {median / baseline:>11.2f} {peak_kib / 1024:>13.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
