"""Console examples for the docs, taken from real runs when the site is built, so that
what a page shows is what the command prints today (the reference pages are written
from the code the same way: reference.py).

Each example builds the demo as `make demo` does (the example app's chain at its seed
revision, the seeder's rows, `safeguard upgrade head`) in a temporary directory, runs
the commands it shows with the `safeguard` of this checkout, and returns the console:
the commands, what they printed on stderr (where people read it), and the exit code.
The temporary directory is shown as `.`; ids, digests and times are the run's own.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The revision `make demo` seeds at (the Makefile's DEMO_SEED_REVISION).
DEMO_SEED_REVISION = "1580131d7fd2"
HEAD = "869693962fcc"

#: A revision after head that requires year_built, which some demo rows leave NULL: its
#: batch rebuild of properties fails on them (MF104 predicted it may).
REQUIRE_YEAR_BUILT = f'''\
"""require year_built

Revision ID: a1b2c3d4e5f6
Revises: {HEAD}
"""
import sqlalchemy as sa
from alembic import op

revision = "a1b2c3d4e5f6"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("properties") as batch:
        batch.alter_column("year_built", existing_type=sa.Integer(), nullable=False)


def downgrade():
    with op.batch_alter_table("properties") as batch:
        batch.alter_column("year_built", existing_type=sa.Integer(), nullable=True)
'''


class Demo:
    """The demo project in a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
        shutil.copytree(REPO / "alembic", root / "alembic",
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.env = {**os.environ, "DATABASE_URL": "sqlite:///./poolula.db"}
        self.env.pop("SAFEGUARD_STORE", None)

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=600)

    def safeguard(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "safeguard", *args)

    def build(self) -> "Demo":
        """`make demo`: the seed revision, the demo rows, then the guarded upgrade."""
        for done in (self.safeguard("upgrade", DEMO_SEED_REVISION, "--create"),
                     self.run(sys.executable, str(REPO / "scripts" / "seed_database.py")),
                     self.safeguard("upgrade", "head")):
            if done.returncode != 0:
                raise RuntimeError(f"building the demo failed: {done.args}: {done.stderr[-2000:]}")
        return self

    def console(self, *args: str) -> str:
        """``$ safeguard ARGS``, what it printed, and ``$ echo $?`` when it failed."""
        done = self.safeguard(*args)
        text = done.stderr.replace(str(self.root) + os.sep, "./").rstrip("\n")
        out = [f"$ safeguard {' '.join(args)}", text]
        if done.returncode:
            out += ["$ echo $?", str(done.returncode)]
        return "\n".join(out)


@functools.cache
def guarded_run_failure() -> str:
    """A guarded upgrade whose revision fails on the demo rows, and its restore."""
    with tempfile.TemporaryDirectory(prefix="safeguard-docs-") as tmp:
        demo = Demo(Path(tmp)).build()
        (demo.root / "alembic" / "versions" / "a1b2c3d4e5f6_require_year_built.py").write_text(
            textwrap.dedent(REQUIRE_YEAR_BUILT))
        return "```console\n" + demo.console("upgrade", "head") + "\n```\n"
