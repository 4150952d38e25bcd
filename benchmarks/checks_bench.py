"""What the health checks after a run cost on SQLite databases of many small rows with
an index (the shape of most application tables), beside a copy and Alembic.

    python benchmarks/checks_bench.py [--sizes 100,1024] [--runs 3] [--dir DIR]
                                      [--against TREE ...] [--no-whole-checks] [--quick]
                                      [--journal-mode delete|wal]

For each size a database is built once (cached in --dir): a large `events` table of
small rows with an index, a small `notes` table and a `note_tags` table referencing it,
stamped at the first revision of a two-revision chain whose second revision drops a
column of `notes` (destructive: a snapshot is due). Then, alternating run by run:

* baseline upgrade: `cp` + fsync of the database, then `alembic upgrade head`;
* `safeguard snapshot create` (beside the baseline restore: `cp` + fsync), from a fresh copy;
* `safeguard upgrade head` (from this tree, and from each --against TREE, e.g. the main
  branch: `git archive main safeguard | tar -x -C /tmp/before`);
* `safeguard restore latest --yes` (back to the snapshot that upgrade took);
* baseline restore: `cp` + fsync of the database.

Every run starts from a fresh copy of the built database and an empty store; each is a
fresh process, timed from spawn to exit. A safeguard run that fails is reported as such
(with its exit code) rather than stopping the benchmark: a false rollback is a result.
Also printed per size: `PRAGMA integrity_check` and `quick_check` of the whole database
(the cost of `integrity = full` / `safeguard check --full`), in seconds per GiB.

--quick: one tiny database, one run (what `make test` runs, so a rename breaks the
suite rather than the benchmark).
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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from _baseline import copy_fsync

REPO = Path(__file__).resolve().parents[1]
FIRST, SECOND = "c0ffee000001", "c0ffee000002"
GIB = 1 << 30
#: Bytes per `events` row with its index, measured on this schema (15.3 M rows: 825 MB).
ROW_BYTES = 54

ENV_PY = '''\
"""The env.py `alembic init` writes: the URL from the ini, logging from the ini."""
from logging.config import fileConfig

from sqlalchemy import engine_from_config, pool

from alembic import context

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''

INI = """\
[alembic]
script_location = %(here)s/migrations
sqlalchemy.url = sqlite:///{db}

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""

REVISIONS = {
    FIRST: ("the tables", None, "pass"),
    SECOND: ("drop notes.body", FIRST, "op.drop_column('notes', 'body')"),
}

SCHEMA = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, kind TEXT NOT NULL,
                     amount INTEGER NOT NULL, ref TEXT);
CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT);
CREATE TABLE note_tags (id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes (id),
                        tag TEXT NOT NULL);
"""


def make_project(root: Path, db: Path) -> None:
    """A stock Alembic project in ``root`` pointed at ``db``, with the two revisions."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (root / "alembic.ini").write_text(INI.format(db=db))
    (root / "migrations" / "env.py").write_text(ENV_PY)
    for rev, (doc, down, body) in REVISIONS.items():
        (versions / f"{rev}.py").write_text(
            f'"""{doc}"""\nfrom alembic import op\n\nrevision = {rev!r}\n'
            f"down_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n")


def built_path(work: Path, size_mb: int, journal_mode: str) -> Path:
    return work / f"events-{size_mb}mb{'' if journal_mode == 'delete' else '-' + journal_mode}.db"


def build(path: Path, size_mb: int, journal_mode: str) -> None:
    """The database at revision FIRST, about ``size_mb`` MiB (cached: built once)."""
    if path.exists():
        return
    partial = path.with_name(path.name + ".building")
    partial.unlink(missing_ok=True)
    rows = max(size_mb * (1 << 20) // ROW_BYTES, 1000)
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO alembic_version VALUES (?)", (FIRST,))
        conn.execute("BEGIN")
        done, batch = 0, 1_000_000
        while done < rows:
            n = min(batch, rows - done)
            conn.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) "
                "INSERT INTO events (account, kind, amount, ref) "
                "SELECT abs(random()) % 100000, 'kind' || (x % 17), x % 1000, hex(randomblob(6)) FROM c",
                (n,))
            done += n
        conn.execute("CREATE INDEX ix_events_account ON events (account, kind)")
        conn.executemany("INSERT INTO notes (title, body) VALUES (?, ?)",
                         [(f"note {i}", "x" * 200) for i in range(200)])
        conn.executemany("INSERT INTO note_tags (note_id, tag) VALUES (?, ?)",
                         [(1 + i % 200, f"tag{i % 7}") for i in range(400)])
        conn.execute("COMMIT")
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    finally:
        conn.close()
    os.replace(partial, path)


@dataclass
class Runs:
    label: str
    seconds: list[float]
    failures: list[str]
    peak_kib: int = 0  # the largest peak RSS of any of its processes

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def time(self, args: list[str], cwd: Path, env: dict[str, str], ok: Callable[[], bool]) -> None:
        """Run `safeguard ARGS` once: its time when it exits 0 and ``ok()``, else why not."""
        seconds, proc, peak = run([sys.executable, "-m", "safeguard", *args], cwd, env)
        self.peak_kib = max(self.peak_kib, peak)
        if proc.returncode == 0 and ok():
            self.seconds.append(seconds)
        else:
            self.failures.append(f"exit {proc.returncode} after {seconds:.1f}s: {_last_line(proc.stderr)}")


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess, int]:
    """Run a command; its wall time, its result and its peak RSS in KiB (wait4)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(argv, child.returncode, out.read(), err.read())
    # Each sample as it comes (a long run that is cut short still says something).
    print(f"    sample: {' '.join(argv[1:])} [{env.get('PYTHONPATH', '')}]: {seconds:.2f} s, "
          f"exit {proc.returncode}, peak {usage.ru_maxrss / 1024:.0f} MiB", flush=True)
    return seconds, proc, usage.ru_maxrss


def child_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DATABASE_URL")}
    env["PYTHONPATH"] = str(tree)
    return env


def version_of(db: Path) -> str:
    conn = sqlite3.connect(db)  # closed here: an open one would make `restore` refuse
    try:
        return ",".join(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
    finally:
        conn.close()


def whole_checks(db: Path) -> tuple[float, float]:
    """Seconds per GiB of `PRAGMA integrity_check` and `quick_check` on the whole file."""
    gib = db.stat().st_size / GIB
    rates = []
    for pragma in ("integrity_check", "quick_check"):
        conn = sqlite3.connect(db)
        try:
            started = time.perf_counter()
            result = conn.execute(f"PRAGMA {pragma}").fetchall()
            rates.append((time.perf_counter() - started) / gib)
            assert result == [("ok",)], result
        finally:
            conn.close()
    return rates[0], rates[1]


def measure(work: Path, size_mb: int, trees: list[Path], runs: int, journal_mode: str) -> list[Runs]:
    built = built_path(work, size_mb, journal_mode)
    build(built, size_mb, journal_mode)
    root = work / f"project-{size_mb}"
    db = root / "app.db"
    backup = root / "backup.db"
    make_project(root, db)
    store = root / ".safeguard"

    def reset() -> None:
        shutil.rmtree(store, ignore_errors=True)
        backup.unlink(missing_ok=True)
        shutil.copyfile(built, db)

    results = {"baseline upgrade (cp + fsync + alembic upgrade head)": Runs("", [], []),
               "baseline restore (cp + fsync)": Runs("", [], [])}
    for tree in trees:
        results[f"safeguard snapshot create{label(tree)}"] = Runs("", [], [])
        results[f"safeguard upgrade head{label(tree)}"] = Runs("", [], [])
        results[f"safeguard restore latest --yes{label(tree)}"] = Runs("", [], [])
    env = child_env(REPO)
    for _ in range(runs):
        reset()
        started = time.perf_counter()
        copy_fsync(db, backup)
        seconds, proc, _ = run([sys.executable, "-m", "alembic", "upgrade", "head"], root, env)
        if proc.returncode != 0 or version_of(db) != SECOND:
            sys.exit(f"alembic upgrade head failed:\n{proc.stderr}")
        results["baseline upgrade (cp + fsync + alembic upgrade head)"].seconds.append(
            time.perf_counter() - started)
        started = time.perf_counter()
        copy_fsync(built, backup)
        results["baseline restore (cp + fsync)"].seconds.append(time.perf_counter() - started)
        for tree in trees:
            reset()
            results[f"safeguard snapshot create{label(tree)}"].time(
                ["snapshot", "create"], root, child_env(tree), lambda: True)
            reset()
            results[f"safeguard upgrade head{label(tree)}"].time(
                ["upgrade", "head"], root, child_env(tree), lambda: version_of(db) == SECOND)
            back = results[f"safeguard restore latest --yes{label(tree)}"]
            if version_of(db) != SECOND:
                back.failures.append("not run: the upgrade did not migrate")
                continue
            back.time(["restore", "latest", "--yes"], root, child_env(tree),
                      lambda: version_of(db) == FIRST)
    for name, result in results.items():
        result.label = name
    return list(results.values())


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def label(tree: Path) -> str:
    return "" if tree == REPO else f" [{tree.name}]"


def report(size_mb: int, db: Path, results: list[Runs], runs: int, checks: tuple[float, float] | None) -> None:
    size = db.stat().st_size
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"\n{size_mb} MiB target: {size / 1e6:,.0f} MB, {rows:,} rows in events; "
          f"median of {runs} run(s)")
    upgrade_base, restore_base = results[0].median, results[1].median
    for r in results:
        base = upgrade_base if "upgrade" in r.label else restore_base
        ratio = f"{r.median / base:6.2f}x" if r.seconds else "      "
        peak = f"  peak {r.peak_kib / 1024:5.0f} MiB" if r.peak_kib else ""
        print(f"  {r.label:<62} {r.median:8.2f} s {ratio}  ({len(r.seconds)} ok){peak}")
        for failure in r.failures:
            print(f"      FAILED: {failure}")
    if checks:
        print(f"  whole-database integrity_check {checks[0]:.2f} s/GiB, quick_check {checks[1]:.2f} s/GiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1024", help="database sizes in MiB, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work directory; built databases are kept there")
    parser.add_argument("--against", type=Path, action="append", default=[], metavar="TREE",
                        help="also time safeguard from this source tree (holding safeguard/)")
    parser.add_argument("--quick", action="store_true", help="one tiny database, one run")
    parser.add_argument("--journal-mode", choices=("delete", "wal"), default="delete",
                        help="the databases' journal mode (in WAL mode a snapshot's quick_check "
                             "reads the live file beside the copy)")
    parser.add_argument("--no-whole-checks", action="store_true",
                        help="skip timing integrity_check/quick_check of the whole database")
    args = parser.parse_args(argv)
    sizes = [2] if args.quick else [int(s) for s in args.sizes.split(",")]
    runs = 1 if args.quick else args.runs
    for tree in args.against:
        if not (tree / "safeguard" / "__init__.py").is_file():
            parser.error(f"--against {tree}: no safeguard/__init__.py there")
    trees = [REPO, *(tree.resolve() for tree in args.against)]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {sys.executable}")
    temporary = args.dir is None
    work = Path(tempfile.mkdtemp(prefix="sg-checks-bench-")) if temporary else args.dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        for size_mb in sizes:
            results = measure(work, size_mb, trees, runs, args.journal_mode)
            built = built_path(work, size_mb, args.journal_mode)
            report(size_mb, built, results, runs,
                   None if args.no_whole_checks else whole_checks(built))
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
