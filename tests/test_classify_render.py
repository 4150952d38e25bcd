"""Offline rendering: optional, fail-soft, and never near a database."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from safeguard.classify import classify_source
from safeguard.classify.render import render, unsafe_reason

HEADER = "from alembic import op\nimport sqlalchemy as sa\n\n"


def source(body: str) -> str:
    return HEADER + textwrap.dedent(body)


def rendered(body: str, dialect: str = "postgresql", direction: str = "upgrade"):
    return render(ast.parse(source(body)), "<test>", direction, dialect)


def test_op_calls_and_bind_execute_go_to_the_output_buffer() -> None:
    result = rendered("""\
        t = sa.table("transactions", sa.column("is_void"))
        def _purge():
            op.get_bind().execute(sa.delete(t).where(t.c.is_void == sa.true()))
        def upgrade():
            op.drop_column("tenants", "fax")
            _purge()
    """)
    assert result.error is None
    assert result.statements == (
        ("ALTER TABLE tenants DROP COLUMN fax;", 8),
        ("DELETE FROM transactions WHERE transactions.is_void = true;", 9),  # the call site in upgrade()
    )


def test_rendering_finds_what_the_ast_cannot_read() -> None:
    text = source("""\
        def upgrade():
            op.execute(" ".join(word for word in ["DELETE", "FROM", "tenants"]))
    """)
    assert classify_source(text, render="never").verdict == "unknown"
    result = classify_source(text)  # default "auto": the UN101 triggers a render
    assert result.verdict == "destructive"
    assert {"DS104", "UN101"} == set(result.codes)
    assert any("deletes rows from tenants" in f.message for f in result.findings)


def test_render_never_and_always() -> None:
    text = source("def upgrade():\n    op.drop_table('x')\n")
    assert classify_source(text, render="never").codes == classify_source(text, render="always").codes
    assert classify_source(text, render=False).codes == {"DS102"}


def test_failures_are_soft() -> None:
    raising = rendered("def upgrade():\n    op.drop_table('a')\n    raise RuntimeError('boom')\n")
    assert raising.statements == (("DROP TABLE a;", 5),)
    assert "RuntimeError: boom" in raising.error
    broken_import = rendered("import json\nx = json.loads('{')\ndef upgrade():\n    pass\n")
    assert broken_import.statements == () and broken_import.error.startswith("import failed")
    text = source("def upgrade():\n    op.drop_table('a')\n    raise RuntimeError('boom')\n")
    assert classify_source(text, render="always").codes == {"DS102"}


@pytest.mark.parametrize("body", [
    "from poolula_app import models\n",
    "import os\n",
    "from . import helpers\n",
    "engine = sa.create_engine('sqlite:///real.db')\n",
    "data = open('notes.txt').read()\n",
])
def test_modules_that_reach_outside_are_not_executed(body: str) -> None:
    assert unsafe_reason(ast.parse(source(body))) is not None


def test_unsafe_module_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = source(f"""\
        with open({str(marker)!r}, "w") as fh:
            fh.write("ran")
        def upgrade():
            op.execute(build())
    """)
    result = classify_source(text, render="always")
    assert not marker.exists()
    assert result.verdict == "unknown"


def test_rendering_leaves_the_global_op_proxy_alone() -> None:
    from alembic import op

    # Absent in a fresh process, None once any real migration ran in it: compare, so the
    # test holds in whatever order the suite runs.
    before = vars(op).get("_proxy", "absent")
    rendered("def upgrade():\n    op.drop_table('x')\n")
    assert vars(op).get("_proxy", "absent") is before  # a real migration elsewhere is unaffected


def test_rendering_prunes_by_executing_only_one_branch() -> None:
    body = """\
        def upgrade():
            if op.get_bind().dialect.name == "postgresql":
                op.execute("DROP SCHEMA legacy CASCADE")
    """
    assert rendered(body, "postgresql").statements == (("DROP SCHEMA legacy CASCADE;", 6),)
    assert rendered(body, "sqlite").statements == ()
