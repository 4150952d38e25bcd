"""What `safeguard upgrade head` costs over `alembic upgrade head`, whole process.

    python benchmarks/upgrade_overhead_bench.py [--revisions 50] [--runs 5] [--rows 300] [--quick]
                                                [--against TREE ...]

Two projects, each timed as a user pays it: a fresh process, interpreter start and
imports included, wall clock from spawn to exit, and the CPU time it used (on a busy
machine the wall time swings with the load, the CPU time much less). Each command runs
as `python -m alembic` / `python -m safeguard` with this tree first on PYTHONPATH;
--against adds the same safeguard commands run from another source tree (the commit
before a change, say: `git archive HEAD~1 safeguard core | tar -x -C /tmp/before`),
alternating with the others, so a change is measured under the same load.

* chain: a project made by `alembic init` (the stock env.py and alembic.ini) with
  --revisions safe revisions (tables added, nullable columns added, indexes created),
  upgraded from an empty SQLite file: `alembic upgrade head` against
  `safeguard upgrade head --create` (no snapshot is due: every revision is safe).
* example: this repository's chain with the demo rows of scripts/seed_database.py at
  revision 1580131d7fd2 (as `make demo`), upgraded to head: a snapshot (the chain
  renames and drops columns), five revisions, every health check.

Every run starts from a fresh database (an empty file's absence, or a fresh copy of the
seeded one) and an empty snapshot store; the commands alternate, run by run, after one
warm-up each, and each run is checked to have reached head. Floors measured in the same
session: `python -c pass`, `python -c "import alembic.config"`, the same for
safeguard's command line, and `python -m safeguard --help` (start-up: what every command
pays before its own work).

Target (the issue): on the chain, safeguard within 1.3x of alembic's median.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEED_REVISION = "1580131d7fd2"  # the Makefile's DEMO_SEED_REVISION
TARGET_RATIO = 1.3


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds from spawn to exit, and the CPU seconds (user + system)
    the process used. On a busy machine the wall time swings with the load; the CPU
    time much less."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Timing:
    """One command over the runs."""

    label: str
    samples: tuple[Sample, ...]

    @property
    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)


# -- the projects ----------------------------------------------------------------------

REVISION = '''\
"""{doc}

Revision ID: {rev}
Revises: {down}
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = {rev!r}
down_revision: Union[str, Sequence[str], None] = {down!r}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def safe_change(n: int) -> tuple[str, str, str]:
    """The n-th revision's (doc, upgrade body, downgrade body): a new table, then a
    nullable column on it, then an index on that column, round and round."""
    table, kind = f"table_{n // 3:02d}", n % 3
    if kind == 0:
        return (f"create {table}",
                f"op.create_table({table!r}, sa.Column('id', sa.Integer, primary_key=True),\n"
                f"                sa.Column('name', sa.String(80), nullable=False))",
                f"op.drop_table({table!r})")
    if kind == 1:
        return (f"add {table}.note",
                f"op.add_column({table!r}, sa.Column('note', sa.Text, nullable=True))",
                f"op.drop_column({table!r}, 'note')")
    return (f"index {table}.note",
            f"op.create_index('ix_{table}_note', {table!r}, ['note'])",
            f"op.drop_index('ix_{table}_note', table_name={table!r})")


def make_chain_project(root: Path, revisions: int) -> Path:
    """`alembic init` in ``root``, pointed at ``root/chain.db``, with ``revisions``
    safe revisions chained one after another. Returns the database path."""
    root.mkdir()
    subprocess.run([str(BIN / "alembic"), "init", "-t", "generic", "migrations"], cwd=root,
                   env=child_env(), check=True, capture_output=True)
    db = root / "chain.db"
    ini = root / "alembic.ini"
    lines = [f"sqlalchemy.url = sqlite:///{db}" if line.startswith("sqlalchemy.url") else line
             for line in ini.read_text().splitlines()]
    ini.write_text("\n".join(lines) + "\n")
    down = None
    for n in range(revisions):
        rev = f"{n + 1:04x}{'ab' * 4}"
        doc, up, back = safe_change(n)
        text = REVISION.format(doc=doc, rev=rev, down=down, upgrade=textwrap.indent(up, "    "),
                               downgrade=textwrap.indent(back, "    "))
        (root / "migrations" / "versions" / f"{rev}_{doc.replace(' ', '_').replace('.', '_')}.py").write_text(text)
        down = rev
    return db


def make_example_project(root: Path, rows: int) -> Path:
    """A copy of this repository's alembic.ini and chain, its database at the demo's
    seed revision and filled by scripts/seed_database.py. Returns the seeded file (a
    pristine copy: each run upgrades a fresh copy of it)."""
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    env = example_env(root)
    subprocess.run([str(BIN / "safeguard"), "upgrade", SEED_REVISION, "--create", "--policy", "never"],
                   cwd=root, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, str(REPO / "scripts" / "seed_database.py"), "--rows", str(rows)],
                   cwd=REPO, env=env, check=True, capture_output=True)
    seeded = root / "seeded.db"
    os.replace(root / "poolula.db", seeded)
    shutil.rmtree(root / ".safeguard", ignore_errors=True)
    return seeded


def example_env(root: Path) -> dict[str, str]:
    """The example env.py reads its URL from DATABASE_URL."""
    return child_env({"DATABASE_URL": f"sqlite:///{root / 'poolula.db'}"})


def version_of(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return ",".join(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
    finally:
        conn.close()


# -- timing ------------------------------------------------------------------------------

def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The children's environment: as a user's shell has it, so bytecode caches are
    written and used (PYTHONDONTWRITEBYTECODE would make every run recompile every
    module that has no cache yet, safeguard's own included)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **(extra or {})}


def timed(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Sample:
    """One process from spawn to exit; a failure stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env or child_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed (exit {proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(elapsed, cpu)


def run_to_head(argv: list[str], cwd: Path, env: dict[str, str], reset: Callable[[], None],
                db: Path, head: str) -> Callable[[], Sample]:
    """One timed run of ``argv`` from the state ``reset`` makes; a run that does not
    leave the database at ``head`` stops the benchmark (it measured nothing)."""
    def run() -> Sample:
        reset()
        sample = timed(argv, cwd=cwd, env=env)
        if version_of(db) != head:
            sys.exit(f"{' '.join(argv)} did not reach {head}: the database is at {version_of(db)}")
        return sample
    return run


def alternate(commands: dict[str, Callable[[], Sample]], runs: int) -> list[Timing]:
    """Time each command ``runs`` times, alternating, after one untimed warm-up each
    (bytecode caches, page cache): drift in the machine's load hits all alike."""
    for run in commands.values():
        run()
    times: dict[str, list[Sample]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, run in commands.items():
            times[label].append(run())
    return [Timing(label, tuple(samples)) for label, samples in times.items()]


def python(tree: Path, *args: str) -> list[str]:
    """``python ARGS`` run with ``tree`` first on the import path."""
    return ["env", f"PYTHONPATH={tree}", sys.executable, *args]


def tree_label(tree: Path) -> str:
    return "" if tree == REPO else f" [{tree.name}]"


def floors(trees: list[Path], runs: int) -> list[Timing]:
    commands = {
        "python -c pass": lambda: timed(python(REPO, "-c", "pass"), cwd=REPO),
        "python -c 'import alembic.config'": lambda: timed(python(REPO, "-c", "import alembic.config"), cwd=REPO),
    }
    for tree in trees:
        commands[f"python -c 'import safeguard.cli'{tree_label(tree)}"] = \
            lambda tree=tree: timed(python(tree, "-c", "import safeguard.cli"), cwd=REPO)
        commands[f"python -m safeguard --help{tree_label(tree)}"] = \
            lambda tree=tree: timed(python(tree, "-m", "safeguard", "--help"), cwd=REPO)
    return alternate(commands, runs)


def chain_timings(work: Path, revisions: int, trees: list[Path], runs: int) -> tuple[list[Timing], str]:
    root = work / "chain"
    db = make_chain_project(root, revisions)
    store = root / ".safeguard"
    head = f"{revisions:04x}{'ab' * 4}"

    def reset() -> None:
        db.unlink(missing_ok=True)
        shutil.rmtree(store, ignore_errors=True)

    def fresh_run(argv: list[str]) -> Callable[[], Sample]:
        return run_to_head(argv, root, child_env(), reset, db, head)

    commands = {"alembic upgrade head": fresh_run(python(REPO, "-m", "alembic", "upgrade", "head"))}
    for tree in trees:
        commands[f"safeguard upgrade head --create{tree_label(tree)}"] = fresh_run(
            python(tree, "-m", "safeguard", "upgrade", "head", "--create"))
    return alternate(commands, runs), head


def example_timings(work: Path, rows: int, trees: list[Path], runs: int) -> list[Timing]:
    root = work / "example"
    seeded = make_example_project(root, rows)
    db, store, env = root / "poolula.db", root / ".safeguard", example_env(root)
    head = subprocess.run([str(BIN / "alembic"), "heads"], cwd=root, env=env, check=True,
                          capture_output=True, text=True).stdout.split()[0]

    def reset() -> None:
        shutil.rmtree(store, ignore_errors=True)
        shutil.copyfile(seeded, db)

    def fresh_run(argv: list[str]) -> Callable[[], Sample]:
        return run_to_head(argv, root, env, reset, db, head)

    commands = {"alembic upgrade head": fresh_run(python(REPO, "-m", "alembic", "upgrade", "head"))}
    for tree in trees:
        commands[f"safeguard upgrade head{tree_label(tree)}"] = fresh_run(
            python(tree, "-m", "safeguard", "upgrade", "head"))
    commands["safeguard upgrade head --policy never"] = fresh_run(
        python(REPO, "-m", "safeguard", "upgrade", "head", "--policy", "never"))
    return alternate(commands, runs)


def print_table(title: str, timings: list[Timing], baseline: Timing | None) -> None:
    """Wall medians (min, max), the ratio and difference to the baseline, and the
    same for CPU time."""
    print(f"\n{title}")
    print(f"  {'command':<50} {'wall s':>7} {'min':>6} {'max':>6} {'x base':>7} {'+ms':>6}"
          f" {'cpu s':>7} {'x base':>7}")
    for t in timings:
        ratio = extra = cpu_ratio = ""
        if baseline is not None:
            ratio = f"{t.median / baseline.median:.2f}x"
            extra = f"{(t.median - baseline.median) * 1000:+.0f}"
            cpu_ratio = f"{t.cpu / baseline.cpu:.2f}x"
        print(f"  {t.label:<50} {t.median:>7.3f} {min(t.walls):>6.2f} {max(t.walls):>6.2f} {ratio:>7} "
              f"{extra:>6} {t.cpu:>7.3f} {cpu_ratio:>7}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=50, help="safe revisions in the generated chain")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=300, help="properties seeded in the example database")
    parser.add_argument("--against", type=Path, action="append", default=[], metavar="TREE",
                        help="also time safeguard from this source tree (holding safeguard/ and core/)")
    parser.add_argument("--quick", action="store_true", help="a short chain, one run (for the test suite)")
    args = parser.parse_args(argv)
    if args.quick:
        args.revisions, args.runs, args.rows = 3, 1, 20
    for tree in args.against:
        if not (tree / "safeguard" / "__init__.py").is_file():
            parser.error(f"--against {tree}: no safeguard/__init__.py there")
    trees = [REPO, *(tree.resolve() for tree in args.against)]

    print(f"whole process, median of {args.runs} alternating runs after a warm-up; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {sys.executable}")
    with tempfile.TemporaryDirectory(prefix="sg-upgrade-bench-") as tmp:
        work = Path(tmp)
        print_table("floors", floors(trees, args.runs), None)
        chain, head = chain_timings(work, args.revisions, trees, args.runs)
        print_table(f"chain: {args.revisions} safe revisions, stock env.py, empty SQLite file -> {head}",
                    chain, chain[0])
        example = example_timings(work, args.rows, trees, args.runs)
        print_table(f"example: this repository's chain, {args.rows} seeded properties, "
                    f"{SEED_REVISION} -> head", example, example[0])

    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    ratio = chain[1].median / chain[0].median
    verdict = "within" if ratio < TARGET_RATIO else "OVER"
    print(f"\nchain: safeguard {ratio:.2f}x alembic (wall; CPU {chain[1].cpu / chain[0].cpu:.2f}x): "
          f"{verdict} the {TARGET_RATIO}x target")
    return 0 if args.quick or ratio < TARGET_RATIO else 1  # tiny runs prove nothing


if __name__ == "__main__":
    sys.exit(main())
