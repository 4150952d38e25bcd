"""How long `safeguard lint` takes on 1,000 revision files.

Generates 1,000 revision files in a temporary directory (copies of the labelled corpus
and of the plugin revisions in tests/fixtures/plugins, each with a fresh revision id,
chained linearly), then times, pinned to one CPU core, median of several runs:

- in the process: ``linting.lint(directory)``, the library call the command makes,
  beside reading and ``ast.parse``-ing the same files, which any AST-based
  classifier must do anyway (the floor);
- the whole command, ``python -m safeguard lint DIRECTORY`` (interpreter start,
  imports, classification, output), beside ``python -c`` parsing the same files.

Each figure is given as wall time and as CPU time (user + system of the process):
on a machine other jobs share, wall time waits for the core, and CPU time is what the
work costs. Target: the whole command on 1,000 files under 2 s of one core.

    .venv/bin/python benchmarks/lint_bench.py [--files 1000] [--runs 5] [--core 0]
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "revisions"
PLUGINS = REPO / "tests" / "fixtures" / "plugins"
FALLBACK = REPO / "tests" / "fixtures" / "classify"
TARGET_SECONDS = 2.0

_REVISION = re.compile(r'^(revision(?:\s*:\s*str)?\s*=\s*)["\'][0-9a-f]+["\']', re.MULTILINE)
_DOWN = re.compile(r'^(down_revision(?:\s*:[^=]+)?\s*=\s*).*$', re.MULTILINE)
_DOC_IDS = re.compile(r"^(Revision ID:|Revises:).*$", re.MULTILINE)


def templates() -> list[Path]:
    """The revision files to copy: the corpus (or, without it, the classifier's test
    fixtures) and the plugin revisions."""
    found = sorted(CORPUS.glob("*.py")) if CORPUS.is_dir() else []
    if not found:
        found = [p for p in sorted(FALLBACK.glob("*.py")) if "syntax" not in p.name]
    found += sorted(PLUGINS.glob("*.py"))
    if not found:
        sys.exit("no revision files to copy: neither the corpus nor the test fixtures were found")
    return found


def generate(directory: Path, count: int) -> list[Path]:
    """Write ``count`` revision files with fresh ids, chained one after another."""
    sources = [(p.stem, p.read_text()) for p in templates()]
    paths, previous = [], None
    for n in range(count):
        stem, text = sources[n % len(sources)]
        rev = secrets.token_hex(6)
        text = _REVISION.sub(lambda m, rev=rev: f'{m.group(1)}"{rev}"', text, count=1)
        text = _DOWN.sub(lambda m, down=previous: f"{m.group(1)}{down!r}", text, count=1)
        text = _DOC_IDS.sub(lambda m, rev=rev, down=previous:
                            f"{m.group(1)} {rev if m.group(1) == 'Revision ID:' else down or ''}", text)
        path = directory / f"{n:04d}_{rev}_{stem.split('_', 1)[-1]}.py"
        path.write_text(text)
        paths.append(path)
        previous = rev
    return paths


def pin_to_one_core(core: int) -> str:
    """Restrict this process (and the processes it starts) to one CPU."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity on this platform)"


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def medians(work: Callable[[], None], runs: int, who: int = resource.RUSAGE_SELF) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` calls of ``work``, after one warm-up.
    ``who`` is whose CPU time counts: this process, or the children it waits for."""
    work()
    walls, cpus = [], []
    for _ in range(runs):
        cpu, start = _cpu(who), time.perf_counter()
        work()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu(who) - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few files, one run (for the test suite)")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.runs = 20, 1

    pinning = pin_to_one_core(args.core)
    sys.path.insert(0, str(REPO))
    from safeguard.linting import lint  # imported after pinning

    with tempfile.TemporaryDirectory(prefix="lint_bench_") as tmp:
        directory = Path(tmp) / "versions"
        directory.mkdir()
        paths = generate(directory, args.files)
        print(f"safeguard lint: {len(paths)} revision files ({len(templates())} templates, fresh ids), "
              f"median of {args.runs} runs, {pinning}\n")

        def parse_all() -> None:
            for path in paths:
                ast.parse(path.read_bytes(), filename=str(path))

        def lint_all() -> None:
            lint([directory])

        def command(*argv: str) -> Callable[[], None]:
            return lambda: subprocess.run([sys.executable, *argv], check=True, cwd=tmp,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        parse_code = ("import ast, pathlib, sys; [ast.parse(p.read_bytes(), str(p)) "
                      "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.py'))]")
        rows = [
            ("in process", "read + ast.parse (the floor)", medians(parse_all, args.runs)),
            ("in process", "linting.lint(directory)", medians(lint_all, args.runs)),
            ("command", "python -c: ast.parse only", medians(
                command("-c", parse_code, str(directory)), args.runs, resource.RUSAGE_CHILDREN)),
            ("command", "python -m safeguard lint DIR", medians(
                command("-m", "safeguard", "lint", str(directory)), args.runs, resource.RUSAGE_CHILDREN)),
        ]
        print(f"{'':10} {'':32} {'wall':>9} {'cpu':>9}")
        for index, (where, what, (wall, cpu)) in enumerate(rows):
            floor = rows[index - index % 2][2][1]
            ratio = f"  {cpu / floor:5.1f}x the floor (cpu)" if index % 2 else ""
            print(f"{where:10} {what:32} {wall:7.3f} s {cpu:7.3f} s{ratio}")

        scaled = rows[3][2][1] * 1000 / len(paths)
        verdict = "within" if scaled < TARGET_SECONDS else "OVER"
        print(f"\n`safeguard lint`: {scaled:.2f} s of one core per 1,000 files: {verdict} the "
              f"{TARGET_SECONDS:.0f} s target (wall {rows[3][2][0] * 1000 / len(paths):.2f} s in this run)")
    return 0 if args.quick or scaled < TARGET_SECONDS else 1  # tiny runs prove nothing


if __name__ == "__main__":
    sys.exit(main())
