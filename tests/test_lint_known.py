"""A project teaches the classifier its own helpers: the `lint_known` setting.

A call into the application's own code is UN101; a declaration (`MODULE[:NAME]=safe`
or `=not-database`) keeps the finding, marks it resolved, and leaves it out of the
verdict. It never covers what the revision does besides (an op call, SQL it executes,
a callable it hands over), and a name that does not import is refused.
"""

from __future__ import annotations

import json
import secrets
import textwrap

import pytest

from safeguard.classify import Declaration, classify_source
from safeguard.config import load_settings
from safeguard.errors import ConfigError

HEADER = "from alembic import op\nimport sqlalchemy as sa\n"


def source(imports: str, body: str) -> str:
    return (HEADER + textwrap.dedent(imports) + '\nrevision = "abc"\ndown_revision = None\n\n'
            "def upgrade():\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n")


SAFE_TRIGGER = Declaration("myapp.migrations.helpers:add_audit_trigger", "safe",
                           "alembic.ini [safeguard] lint_known")
CACHE = Declaration("myapp.cache.redis_connection", "not-database", "alembic.ini [safeguard] lint_known")
HELPER_CALL = source("from myapp.migrations.helpers import add_audit_trigger\n",
                     "add_audit_trigger(op, 'properties')\n")


# --- the classifier ---------------------------------------------------------------------------

def test_a_declared_helper_keeps_its_finding_and_leaves_the_verdict() -> None:
    assert classify_source(HELPER_CALL).verdict == "unknown"
    result = classify_source(HELPER_CALL, declarations=[SAFE_TRIGGER])
    assert result.verdict == "safe" and result.codes == frozenset() and not result.is_destructive
    (finding,) = result.findings
    assert finding.code == "UN101" and finding.kind == "resolved"
    assert finding.resolution == "safe: declared in alembic.ini [safeguard] lint_known"
    assert finding.to_dict() == {
        "code": "UN101", "line": 9, "kind": "resolved",
        "message": "cannot be analysed statically: calls myapp.migrations.helpers.add_audit_trigger, "
                   "imported from another module, which may execute SQL",
        "resolution": "safe: declared in alembic.ini [safeguard] lint_known"}
    assert result.resolved == (finding,)


def test_a_not_database_object_covers_what_is_reached_through_it() -> None:
    result = classify_source(source(
        "from myapp.cache import redis_connection\nimport myapp.cache\n",
        """\
        redis_connection.delete("properties:all")
        pipe = myapp.cache.redis_connection.pipeline()
        pipe.delete()
        pipe.execute()
        """), declarations=[CACHE])
    assert result.verdict == "safe"
    assert {f.resolution for f in result.findings} == {
        "not-database: declared in alembic.ini [safeguard] lint_known"}


@pytest.mark.parametrize("body", [
    # The DROP beside the declared call is the revision's own.
    "add_audit_trigger(op, 'properties')\nop.drop_table('legacy_owners')\n",
    # A callable handed to the helper is followed like any other.
    "add_audit_trigger(op, 'properties', then=lambda: op.drop_table('legacy_owners'))\n",
    # SQL the helper returns is executed by the revision.
    "op.execute(helpers.cleanup_sql('properties'))\nop.execute('DROP TABLE legacy_owners')\n",
])
def test_a_declaration_never_hides_a_real_drop(body: str) -> None:
    result = classify_source(source(
        "from myapp.migrations.helpers import add_audit_trigger\nfrom myapp.migrations import helpers\n",
        body), declarations=[SAFE_TRIGGER, Declaration("myapp.migrations.helpers:cleanup_sql", "safe", "x")])
    assert result.verdict == "destructive" and "DS102" in result.codes
    assert any(f.code == "DS102" and f.resolution is None for f in result.findings)


def test_sql_a_declared_helper_returns_is_still_unknown() -> None:
    result = classify_source(source("from myapp.migrations import helpers\n",
                                    "op.execute(helpers.cleanup_sql('properties'))\n"),
                             declarations=[Declaration("myapp.migrations.helpers:cleanup_sql", "safe", "x")])
    assert result.verdict == "unknown"


@pytest.mark.parametrize("declared", [
    "myapp.migrations.helpers:add_audit",  # a prefix of the name, not the name
    "myapp.migrations.helpers:drop_everything",  # another name in the same module
])
def test_a_declaration_covers_its_own_name_only(declared: str) -> None:
    result = classify_source(HELPER_CALL, declarations=[Declaration(declared, "safe", "x")])
    assert result.verdict == "unknown"


def test_a_whole_module_can_be_declared() -> None:
    result = classify_source(HELPER_CALL, declarations=[Declaration("myapp.migrations.helpers", "safe", "x")])
    assert result.verdict == "safe"


# --- the setting --------------------------------------------------------------------------------

def test_the_setting_reads_from_every_source(project, monkeypatch) -> None:
    project.configure(lint_known="myapp.helpers:add_audit_trigger=safe,\n"
                                 "    myapp.cache.redis_connection = not-database")
    settings = load_settings(project.ini, environ={})
    assert settings.lint_known == {"myapp.helpers:add_audit_trigger": "safe",
                                   "myapp.cache.redis_connection": "not-database"}
    assert settings.sources["lint_known"] == "alembic.ini [safeguard]"
    environ = {"SAFEGUARD_LINT_KNOWN": "other.mod=safe"}
    assert load_settings(project.ini, environ=environ).lint_known == {"other.mod": "safe"}


def test_the_pyproject_list_form(project) -> None:
    (project.root / "pyproject.toml").write_text(
        '[tool.safeguard]\nlint_known = ["myapp.helpers:add_audit_trigger=safe",\n'
        '              "redash.redis_connection=not-database"]\n')
    settings = load_settings(project.ini, environ={})
    assert settings.lint_known == {"myapp.helpers:add_audit_trigger": "safe",
                                   "redash.redis_connection": "not-database"}
    assert settings.sources["lint_known"] == "pyproject.toml [tool.safeguard]"


@pytest.mark.parametrize("value", [
    "myapp.helpers:add_audit_trigger",  # no verdict
    "myapp.helpers:add_audit_trigger=harmless",  # not a verdict
    "my-app.helpers=safe",  # not a dotted name
    "=safe",
])
def test_a_malformed_declaration_is_refused(project, value: str) -> None:
    project.configure(lint_known=value)
    with pytest.raises(ConfigError, match=r"lint_known entry .* is not MODULE\[:NAME\]=safe or not-database"):
        load_settings(project.ini, environ={})
    result = project.cli("lint", expect=2)
    assert "lint_known entry" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- lint, on a project -----------------------------------------------------------------------------

def _helpers(project) -> str:
    """A package of helpers in the project (a fresh name: the test process keeps what
    it imported), and a revision that uses them."""
    package = f"app_{secrets.token_hex(4)}"
    (project.root / package).mkdir()
    (project.root / package / "__init__.py").write_text("redis_connection = object()\n")
    (project.root / package / "helpers.py").write_text(
        "def add_audit_trigger(op, table):\n"
        "    op.execute(f'CREATE TRIGGER audit_{table} AFTER UPDATE ON {table} '\n"
        "               'FOR EACH ROW EXECUTE FUNCTION audit()')\n")
    project.add_revision("f00dfeed0034", "869693962fcc", f"""\
        from {package}.helpers import add_audit_trigger
        from {package} import redis_connection
        add_audit_trigger(op, "properties")
        redis_connection.delete("properties:all")
        """)
    return package


def test_lint_applies_the_declarations(project) -> None:
    package = _helpers(project)
    before = json.loads(project.cli("--json", "lint").stdout)
    assert {r["revision"]: r["verdict"] for r in before["revisions"]}["f00dfeed0034"] == "unknown"
    project.cli("lint", "--strict", expect=11)

    project.configure(lint_known=f"{package}.helpers:add_audit_trigger=safe, {package}.redis_connection=not-database")
    report = json.loads(project.cli("--json", "lint").stdout)
    (entry,) = [r for r in report["revisions"] if r["revision"] == "f00dfeed0034"]
    assert entry["verdict"] == "safe"
    # lint --json keeps every finding: what changed is the verdict.
    assert [(f["code"], f["kind"], f["resolution"]) for f in entry["findings"]] == [
        ("UN101", "resolved", "safe: declared in alembic.ini [safeguard] lint_known"),
        ("UN101", "resolved", "not-database: declared in alembic.ini [safeguard] lint_known")]
    assert [f["message"] for f in entry["findings"]] == [f["message"] for f in [
        r for r in before["revisions"] if r["revision"] == "f00dfeed0034"][0]["findings"]]

    text = project.cli("lint", "--strict").stdout
    assert "f00dfeed0034_test.py: safe" in text
    assert "(safe: declared in alembic.ini [safeguard] lint_known)" in text
    # The same files named on the command line, from the project directory.
    named = project.cli("--json", "lint", str(project.versions / "f00dfeed0034_test.py")).stdout
    assert json.loads(named)["revisions"][0]["verdict"] == "safe"


def test_a_declaration_beside_a_real_drop_leaves_the_revision_destructive(project) -> None:
    package = _helpers(project)
    project.configure(lint_known=f"{package}.helpers:add_audit_trigger=safe, {package}.redis_connection=not-database")
    path = project.versions / "f00dfeed0034_test.py"
    path.write_text(path.read_text().replace(
        'redis_connection.delete("properties:all")',
        'redis_connection.delete("properties:all")\n    op.drop_table("tenants")'))
    report = json.loads(project.cli("--json", "lint", str(path)).stdout)
    (entry,) = report["revisions"]
    assert entry["verdict"] == "destructive"
    assert [f["code"] for f in entry["findings"] if f["kind"] == "destructive"] == ["DS102"]
    project.cli("lint", "--strict", expect=11)


def test_a_declaration_that_does_not_import_is_refused(project) -> None:
    package = _helpers(project)
    project.configure(lint_known=f"{package}.helpers:add_audit_triger=safe")
    result = project.cli("lint", expect=2)
    assert result.stderr.strip().splitlines() == [
        f"safeguard: error: alembic.ini [safeguard] lint_known: {package}.helpers:add_audit_triger does not "
        f"import (AttributeError: module '{package}.helpers' has no attribute 'add_audit_triger')"]
    assert result.stdout == ""
    project.configure(lint_known="no_such_package_34.helpers=safe")
    assert "no_such_package_34.helpers does not import (ModuleNotFoundError" in project.cli("lint", expect=2).stderr


def test_config_shows_the_declarations(project) -> None:
    project.configure(lint_known="myapp.helpers:add_audit_trigger=safe")
    report = json.loads(project.cli("--json", "config", "--no-probe").stdout)
    assert report["settings"]["lint_known"] == {
        "value": {"myapp.helpers:add_audit_trigger": "safe"}, "source": "alembic.ini [safeguard]"}
    assert 'lint_known' in project.cli("config", "--no-probe").stdout


def test_files_outside_any_project_lint_without_settings(tmp_path, monkeypatch) -> None:
    path = tmp_path / "lonely.py"
    path.write_text(HELPER_CALL)
    monkeypatch.chdir(tmp_path)
    from click.testing import CliRunner

    from safeguard.cli import main

    result = CliRunner().invoke(main, ["--json", "lint", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["revisions"][0]["verdict"] == "unknown"


def test_revision_refuses_a_bad_declaration_before_writing(project) -> None:
    """`safeguard revision` lints what it writes: a declaration that does not import is
    refused before Alembic writes anything."""
    project.configure(lint_known="no_such_package_34.helpers=safe")
    before = sorted(p.name for p in project.versions.glob("*.py"))
    result = project.cli("revision", "-m", "add a column", expect=2)
    assert "no_such_package_34.helpers does not import" in result.stderr
    assert sorted(p.name for p in project.versions.glob("*.py")) == before
