"""Where the time of one `safeguard upgrade head` goes, phase by phase, beside
`alembic upgrade head` on the same chain.

    python benchmarks/upgrade_phases.py [--revisions 50] [--runs 3] [--example] [--rows 300] [--quick]
                                        [--against TREE ...]

Each run is a fresh interpreter that wraps timers around the functions of safeguard and
Alembic that make up an upgrade (probing env.py, classifying, journaling, applying,
checking; inside each env.py run: logging setup, engine, revision files loaded, DDL,
version table), then runs the real command in-process. Timers, not a profiler: cProfile
doubles the cost of the many small calls an import makes, and does not see the health
checks, which run in threads. The chain is upgrade_overhead_bench.py's (a stock env.py
and --revisions safe revisions, from an empty SQLite file); --example adds this
repository's chain from the seeded demo state. Figures are medians over --runs; a phase
nested in another is indented under it and included in its parent's figure.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

#: (owner module, attribute path, phase). Phases nest by the call stack at run time.
PHASES = (
    ("safeguard.project", "Project.database", "probe env.py (Project.database)"),
    ("safeguard.guard", "make_plan", "plan (steps, classification, snapshot decision)"),
    ("safeguard.plan", "classify_file", "classify a revision"),
    ("safeguard.journal", "Journal.append", "journal line (and its fsync)"),
    ("safeguard.store", "SnapshotStore.create", "snapshot"),
    ("safeguard.backends.sqlite", "SQLiteBackend.row_counts", "row counts"),
    ("safeguard.project", "Project.apply_run", "apply the run (one pass of env.py)"),
    ("safeguard.health", "run_checks", "health checks"),
    ("safeguard.health", "integrity", "integrity"),
    ("safeguard.health", "revision", "revision"),
    ("safeguard.health", "drift", "drift"),
    ("safeguard.health", "data_guard", "data_guard"),
    ("safeguard.health", "smoke", "smoke"),
    ("safeguard.health", "user_checks", "user checks (sql_check, ...)"),
    ("alembic.script.base", "ScriptDirectory.run_env", "run env.py"),
    ("logging.config", "fileConfig", "env.py: logging.config.fileConfig"),
    ("sqlalchemy", "engine_from_config", "env.py: engine_from_config"),
    ("alembic.runtime.migration", "MigrationContext.get_current_heads", "read alembic_version"),
    ("alembic.script.base", "Script._from_path", "load a revision file"),
    ("alembic.operations.base", "Operations.invoke", "DDL (op.* calls)"),
    ("alembic.runtime.migration", "HeadMaintainer.update_to_step", "update alembic_version"),
)

IMPORTS = "imports (the command line, the phases' modules)"
COMMAND = "run the command"
START = "interpreter start and exit (this script's imports too)"
OUTSIDE = "(the command, outside the phases above)"


# -- the child: wrap, run, report ------------------------------------------------------------

class Recorder:
    """Wall time per phase path ("apply/run env.py/DDL"), summed over every call. One
    stack for all threads: a health check runs in its own thread while the main thread
    waits for it, and belongs under "health checks"."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []

    def wrap(self, fn: Callable, phase: str) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self._stack
            path = "/".join([*stack, phase])
            stack.append(phase)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.totals[path] += time.perf_counter() - start
                self.calls[path] += 1
                stack.pop()
        return timed


def install(recorder: Recorder, tool: str) -> None:
    """Wrap every function of PHASES where callers look it up (class attributes,
    module attributes). Alembic's run wraps Alembic's phases only: importing safeguard
    there would cost it time it never pays."""
    import importlib

    for module_name, attr_path, phase in PHASES:
        if tool != "safeguard" and module_name.startswith("safeguard"):
            continue
        owner: Any = importlib.import_module(module_name)
        *parents, name = attr_path.split(".")
        try:
            for parent in parents:
                owner = getattr(owner, parent)
            if isinstance(owner, type):  # wrap it on the class that defines it
                owner = next(c for c in owner.__mro__ if name in c.__dict__)
                raw = owner.__dict__[name]
            else:
                raw = getattr(owner, name)
        except (AttributeError, StopIteration):
            sys.exit(f"PHASES names {module_name}:{attr_path}, which does not exist (renamed?)")
        if isinstance(raw, classmethod):
            setattr(owner, name, classmethod(recorder.wrap(raw.__func__, phase)))
        else:
            setattr(owner, name, recorder.wrap(raw, phase))
    if tool != "safeguard":
        return
    # The health checks' table holds the functions themselves.
    health = sys.modules["safeguard.health"]
    health.BUILTIN_CHECKS = tuple((n, getattr(health, n)) for n, _ in health.BUILTIN_CHECKS)


def child(tool: str, argv: list[str], out: Path) -> None:
    """Import the tool, wrap, run the command in-process, write the figures as JSON."""
    started = time.perf_counter()
    if tool == "safeguard":
        import safeguard.cli

        run = functools.partial(safeguard.cli.main, argv, prog_name="safeguard")
    else:
        import alembic.config

        run = functools.partial(alembic.config.main, argv)
    recorder = Recorder()
    install(recorder, tool)  # imports the modules the phases live in, if the CLI did not
    wrapped = time.perf_counter()
    code: Any = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code
    finished = time.perf_counter()
    if code not in (0, None):
        sys.exit(f"{tool} {' '.join(argv)} exited {code}")
    figures = {IMPORTS: wrapped - started, COMMAND: finished - wrapped}
    figures.update({f"{COMMAND}/{k}": v for k, v in recorder.totals.items()})
    calls = {f"{COMMAND}/{k}": v for k, v in recorder.calls.items()}
    out.write_text(json.dumps({"seconds": figures, "calls": calls}))


# -- the parent: projects, runs, table ------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One command to break down: which tool, its arguments, its environment."""

    tool: str  # "alembic" | "safeguard"
    argv: tuple[str, ...]
    env: dict[str, str]


def measure(commands: dict[str, Command], *, cwd: Path, reset: Callable[[], None],
            runs: int) -> dict[str, tuple[dict[str, float], dict[str, int]]]:
    """Per command: the median of each phase over ``runs`` fresh processes (after one
    warm-up each), and the calls of its last run. The commands alternate, run by run,
    so a change in the machine's load hits all alike. "whole process" is the wall time
    from spawn to exit; START is what the imports and the command leave of it, OUTSIDE
    what the phases leave of the command (each a median of its own: medians of the
    parts need not add up to the median of the whole)."""
    samples: dict[str, list[dict[str, float]]] = {label: [] for label in commands}
    calls: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="sg-phases-") as tmp:
        out = Path(tmp) / "figures.json"
        for n in range(runs + 1):
            for label, cmd in commands.items():
                reset()
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, __file__, "--child", cmd.tool, str(out), *cmd.argv],
                                      cwd=cwd, env=cmd.env, capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"{label} failed (exit {proc.returncode}):\n{proc.stderr}")
                wall = time.perf_counter() - start
                if n:  # the first round warms the bytecode and page caches
                    data = json.loads(out.read_text())
                    sample = data["seconds"]
                    sample["whole process"] = wall
                    sample[START] = wall - sample[IMPORTS] - sample[COMMAND]
                    sample[OUTSIDE] = sample[COMMAND] - sum(
                        v for k, v in sample.items() if k.startswith(COMMAND) and k.count("/") == 1)
                    samples[label].append(sample)
                    calls[label] = data["calls"]
    return {label: ({k: statistics.median(s.get(k, 0.0) for s in runs_) for k in runs_[0]}, calls[label])
            for label, runs_ in samples.items()}


def print_phases(title: str, results: dict[str, tuple[dict[str, float], dict[str, int]]]) -> None:
    """One row per phase, one column per command: milliseconds and calls. Phases are
    a tree (a child's time is part of its parent's), largest first at each level (by
    the largest figure of any command)."""
    print(f"\n{title}")
    print(f"  {'phase':<60}" + "".join(f" {label[-22:]:>22}" for label in results))
    largest: dict[str, float] = defaultdict(float)
    for phases, _ in results.values():
        for path, seconds in phases.items():
            largest[path] = max(largest[path], seconds)
    paths = [p for p in largest if p.startswith(COMMAND)]
    rows = ["whole process", START, IMPORTS, *sorted(paths, key=lambda p: _order(p, largest))]
    for path in rows:
        depth = path.count("/") + (1 if path != "whole process" else 0)
        name = f"{'  ' * depth}{path.rsplit('/', 1)[-1]}"
        cells = []
        for phases, calls in results.values():
            if path not in phases:
                cells.append("")
                continue
            count = f" x{calls[path]}" if path in calls else ""
            cells.append(f"{phases[path] * 1000:.0f} ms{count}")
        print(f"  {name:<60}" + "".join(f" {cell:>22}" for cell in cells))
    print(f"  {'    ' + OUTSIDE:<60}"
          + "".join(f" {f'{phases[OUTSIDE] * 1000:.0f} ms':>22}" for phases, _ in results.values()))


def _order(path: str, phases: dict[str, float]) -> tuple:
    """Children under their parent, each level by time spent, largest first."""
    parts = path.split("/")
    return tuple(x for i in range(len(parts))
                 for x in (-phases.get("/".join(parts[:i + 1]), 0.0), parts[i]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--example", action="store_true", help="also the seeded example chain")
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--against", type=Path, action="append", default=[], metavar="TREE",
                        help="also break down safeguard from this source tree (as in upgrade_overhead_bench.py)")
    parser.add_argument("--quick", action="store_true", help="a short chain, one run (for the test suite)")
    args = parser.parse_args(argv)
    if args.quick:
        args.revisions, args.runs, args.rows = 3, 1, 20

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from upgrade_overhead_bench import child_env, example_env, make_chain_project, make_example_project

    def commands(argv: tuple[str, ...], env: dict[str, str]) -> dict[str, Command]:
        found = {"alembic": Command("alembic", ("upgrade", "head"), env),
                 "safeguard": Command("safeguard", argv, env)}
        for tree in args.against:
            found[f"safeguard [{tree.name}]"] = Command("safeguard", argv,
                                                        {**env, "PYTHONPATH": str(tree.resolve())})
        return found

    print(f"median of {args.runs} alternating runs after a warm-up, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="sg-phases-") as tmp:
        work = Path(tmp)
        chain = work / "chain"
        db = make_chain_project(chain, args.revisions)

        def empty() -> None:
            db.unlink(missing_ok=True)
            shutil.rmtree(chain / ".safeguard", ignore_errors=True)

        print_phases(f"chain: {args.revisions} safe revisions from an empty SQLite file "
                     "(alembic upgrade head; safeguard upgrade head --create)",
                     measure(commands(("upgrade", "head", "--create"), child_env()), cwd=chain,
                             reset=empty, runs=args.runs))
        if args.example:
            example = work / "example"
            seeded = make_example_project(example, args.rows)

            def fresh_copy() -> None:
                shutil.rmtree(example / ".safeguard", ignore_errors=True)
                shutil.copyfile(seeded, example / "poolula.db")

            print_phases(f"example: {args.rows} seeded properties, 1580131d7fd2 -> head "
                         "(alembic upgrade head; safeguard upgrade head)",
                         measure(commands(("upgrade", "head"), example_env(example)), cwd=example,
                                 reset=fresh_copy, runs=args.runs))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[4:], Path(sys.argv[3]))
    else:
        sys.exit(main())
