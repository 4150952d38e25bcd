"""How long `safeguard lint` takes to classify 1,000 revision files.

Generates 1,000 revision files in a temporary directory (copies of the labelled
corpus, each with a fresh revision id, chained linearly), then times
``classify_file`` over all of them, pinned to one CPU core. The classification is
run several times and the median is reported, beside a floor
measured in the same run: reading and ``ast.parse``-ing the same files, which
any AST-based classifier must do anyway.

Target: 1,000 files in under 5 s.

    .venv/bin/python benchmarks/lint_bench.py [--files 1000] [--runs 5] [--core 0]
"""

from __future__ import annotations

import argparse
import ast
import os
import re
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
FALLBACK = REPO / "tests" / "fixtures" / "classify"
TARGET_SECONDS = 5.0

_REVISION = re.compile(r'^(revision(?:\s*:\s*str)?\s*=\s*)["\'][0-9a-f]+["\']', re.MULTILINE)
_DOWN = re.compile(r'^(down_revision(?:\s*:[^=]+)?\s*=\s*).*$', re.MULTILINE)
_DOC_IDS = re.compile(r"^(Revision ID:|Revises:).*$", re.MULTILINE)


def templates() -> list[Path]:
    """The revision files to copy: the corpus, or the test fixtures without it."""
    found = sorted(CORPUS.glob("*.py")) if CORPUS.is_dir() else []
    if not found:
        found = [p for p in sorted(FALLBACK.glob("*.py")) if "syntax" not in p.name]
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


def cold_process(paths: list[Path], baseline_only: bool = False) -> None:
    """Run the whole job in a fresh interpreter (it inherits the CPU pinning)."""
    listing = paths[0].parent / "files.txt"
    listing.write_text("\n".join(str(p) for p in paths))
    if baseline_only:
        code = ("import ast, sys; [ast.parse(open(p, 'rb').read(), p) "
                "for p in open(sys.argv[1]).read().split()]")
    else:
        code = ("import sys; from safeguard.classify import classify_file; "
                "[classify_file(p) for p in open(sys.argv[1]).read().split()]")
    subprocess.run([sys.executable, "-c", code, str(listing)], check=True, cwd=REPO)


def pin_to_one_core(core: int) -> str:
    """Restrict this process to one CPU so the figures mean one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity on this platform)"


def median_seconds(work: Callable[[], None], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``work`` after one warm-up call."""
    work()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


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
    started = time.perf_counter()
    sys.path.insert(0, str(REPO))
    from safeguard.classify import classify_file  # imported after pinning, timed once

    import_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="lint_bench_") as tmp:
        paths = generate(Path(tmp), args.files)
        print(f"safeguard.classify: {len(paths)} revision files ({len(templates())} templates, fresh ids), "
              f"median of {args.runs} runs, {pinning}")
        print(f"import safeguard.classify: {import_seconds:.2f} s (once per process, not counted below)\n")

        def baseline() -> None:
            for path in paths:
                ast.parse(path.read_bytes(), filename=str(path))

        def classify_all() -> None:
            for path in paths:
                classify_file(path)

        floor = median_seconds(baseline, args.runs)
        rows = [("baseline", "read + ast.parse (the floor)", floor),
                ("classify", "static analysis", median_seconds(classify_all, args.runs))]

        for name, what, seconds in rows:
            ratio = "" if name == "baseline" else f"  {seconds / floor:5.1f}x baseline"
            print(f"{name:9} {what:34} {seconds:7.3f} s  {seconds / len(paths) * 1000:6.2f} ms/file{ratio}")

        cold = median_seconds(lambda: cold_process(paths), min(args.runs, 3))
        cold_floor = median_seconds(lambda: cold_process(paths, baseline_only=True), min(args.runs, 3))
        print("\nwhole process, as `safeguard lint` pays it (interpreter start + imports + classify):")
        print(f"{'process':9} {'python -c: ast.parse only':34} {cold_floor:7.3f} s")
        print(f"{'process':9} {'python -c: classify_file, default':34} {cold:7.3f} s")

        scaled = rows[-1][2] * 1000 / len(paths)
        verdict = "within" if scaled < TARGET_SECONDS else "OVER"
        print(f"\nclassify_file: {scaled:.2f} s per 1,000 files: {verdict} the "
              f"{TARGET_SECONDS:.0f} s target")
    return 0 if args.quick or scaled < TARGET_SECONDS else 1  # tiny runs prove nothing


if __name__ == "__main__":
    sys.exit(main())
