"""The models of common Alembic plugins (safeguard/classify/plugins/), three ways:

- revision files written as each plugin's documentation shows them
  (tests/fixtures/plugins/, labelled in labels.tsv), classified;
- revisions rendered by the installed plugins' own autogenerate renderers, classified;
- on PostgreSQL, the revision files run through Alembic's Operations with the plugin
  installed, and what happened to the rows set beside the model's verdict.

The plugins are imported only in child processes (tests/support/plugin_*.py):
importing one registers its operations with Alembic for the whole process.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from safeguard.classify import classify_file, classify_source
from safeguard.classify.sql import classify_sql
from safeguard.classify.state import SchemaState

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "plugins"
SUPPORT = HERE / "support"


@dataclass(frozen=True)
class Label:
    file: str
    direction: str
    verdict: str
    codes: frozenset[str]
    note: str


def _labels() -> list[Label]:
    with open(FIXTURES / "labels.tsv", newline="") as handle:
        return [Label(r["file"], r["direction"], r["verdict"],
                      frozenset() if r["codes"] == "-" else frozenset(r["codes"].split(",")), r["note"])
                for r in csv.DictReader(handle, delimiter="\t")]


LABELS = _labels()


# --- revision files as the plugins' documentation writes them ------------------------------

@pytest.mark.parametrize("label", LABELS, ids=lambda label: f"{label.file}:{label.direction}")
def test_plugin_revision_matches_its_label(label: Label) -> None:
    result = classify_file(FIXTURES / label.file, direction=label.direction)
    assert (result.verdict, result.codes) == (label.verdict, label.codes), \
        f"{label.file} {label.direction} ({label.note}): {result.findings}"
    assert "UN101" not in {f.code for f in result.findings}


def test_every_fixture_is_labelled_both_ways() -> None:
    files = {p.name for p in FIXTURES.glob("*.py")}
    assert {(lab.file, lab.direction) for lab in LABELS} == \
        {(f, d) for f in files for d in ("upgrade", "downgrade")}


def test_plugin_revisions_recall_and_safe_share() -> None:
    """Every destructive direction flagged; the target for safe ones is 97%."""
    destructive = [lab for lab in LABELS if lab.verdict == "destructive"]
    safe = [lab for lab in LABELS if lab.verdict == "safe"]
    flagged = [lab for lab in destructive
               if classify_file(FIXTURES / lab.file, direction=lab.direction).is_destructive]
    called_safe = [lab for lab in safe
                   if classify_file(FIXTURES / lab.file, direction=lab.direction).verdict == "safe"]
    assert flagged == destructive
    assert len(called_safe) / len(safe) >= 0.97


# --- what the models say, finding by finding --------------------------------------------------

def test_a_removed_enum_value_is_a_warning_naming_the_value_and_the_columns() -> None:
    (finding,) = classify_file(FIXTURES / "enum_remove_value.py").findings
    assert finding.code == "MF105" and finding.kind == "may-fail"
    assert finding.message == (
        "removes value(s) 'three' from enum type public.myenum (op.sync_enum_values, "
        "alembic-postgresql-enum): the migration fails if a row of example_table.enum_field "
        "holds one, and loses nothing")


def test_values_added_upgrade_are_what_the_downgrade_removes() -> None:
    result = classify_file(FIXTURES / "enum_add_values.py", direction="downgrade")
    assert "'five', 'four'" in result.findings[0].message
    # ALTER TYPE ... ADD VALUE cannot be used in the transaction that adds it.
    upgrade = classify_file(FIXTURES / "enum_add_values.py")
    assert [f.code for f in upgrade.outside_transaction] == ["TX101", "TX101"]


def test_a_renamed_enum_value_rewrites_rows() -> None:
    (finding,) = classify_file(FIXTURES / "enum_rename_value.py").findings
    assert (finding.code, finding.kind) == ("DS105", "destructive")
    assert finding.message.startswith("rewrites enum value 'tree' to 'three' in example_table.enum_field")


def revision(body: str, downgrade: str = "pass", imports: str = "") -> str:
    return (f"from alembic import op\nimport sqlalchemy as sa\n{imports}\n"
            'revision = "abc"\ndown_revision = None\n\n'
            f"def upgrade():\n{textwrap.indent(textwrap.dedent(body), '    ')}\n"
            f"def downgrade():\n{textwrap.indent(textwrap.dedent(downgrade), '    ')}\n")


def test_enum_values_before_the_revision_unknown_is_a_warning_not_silence() -> None:
    result = classify_source(revision(
        "op.sync_enum_values('public', 'mood', ['happy', 'sad'], [('people', 'mood')])"))
    (finding,) = result.findings
    assert finding.code == "MF105" and "may remove values from enum type public.mood" in finding.message
    assert result.verdict == "safe" and result.may_fail


def test_unreadable_renames_are_unknown() -> None:
    result = classify_source(revision(
        "op.sync_enum_values('public', 'mood', ['a'], [('p', 'm')], enum_values_to_rename=pairs())"))
    assert "UN101" in result.codes


@pytest.mark.parametrize(("body", "codes"), [
    # drop_entity with CASCADE: an extension takes the columns of its types with it...
    ("op.drop_entity(PGExtension(schema='public', signature='postgis'), cascade=True)", {"DS103"}),
    # ... an entity the classifier cannot identify might be one...
    ("op.drop_entity(app_entities.search_config, cascade=True)", {"DS103"}),
    # ... a view cannot.
    ("op.drop_entity(PGView(schema='public', signature='v', definition='select 1'), cascade=True)", set()),
    ("op.drop_entity(PGExtension(schema='public', signature='postgis'))", set()),
    ("op.replace_entity(app_entities.search_config)", set()),
    # Arguments that do not fit the plugin's signature.
    ("op.create_entity()", {"UN101"}),
    ("op.drop_geospatial_table(*tables)", {"UN101", "DS102"}),
    # Names of a modelled package that no model describes stay out of sight.
    ("sqlalchemy_searchable.future_helper(op.get_bind())", {"UN101"}),
    ("op.execute(PGView(schema='public', signature='v', definition='x').to_sql_statement_create())",
     {"UN101"}),
    # A modelled statement object runs as modelled.
    ("op.get_bind().execute(sqlalchemy_searchable.sql_expressions)", set()),
])
def test_plugin_operation_details(body: str, codes: set[str]) -> None:
    imports = ("import sqlalchemy_searchable\nfrom myapp import app_entities\n"
               "from alembic_utils.pg_extension import PGExtension\nfrom alembic_utils.pg_view import PGView\n")
    assert classify_source(revision(body, imports=imports)).codes == codes


def test_geospatial_operations_follow_alembics_own_rules() -> None:
    upgrade = classify_file(FIXTURES / "geo_lake.py")
    downgrade = classify_file(FIXTURES / "geo_lake.py", direction="downgrade")
    assert upgrade.findings == ()
    assert [(f.code, f.message) for f in downgrade.findings] == [
        ("DS103", "drops column river.course"), ("DS102", "drops table lake")]
    not_null = classify_source(revision(
        "op.add_geospatial_column('river', sa.Column('course', Geometry('LINESTRING'), nullable=False))",
        imports="from geoalchemy2 import Geometry\n"))
    assert not_null.codes == {"MF103"}


# --- what the installed plugins really write ------------------------------------------------

@cache
def _rendered() -> dict[str, dict]:
    result = subprocess.run([sys.executable, str(SUPPORT / "plugin_render.py")],
                            capture_output=True, text=True, check=True, timeout=120)
    return json.loads(result.stdout)


RENDERED = {
    # case: (upgrade verdict, codes), (downgrade verdict, codes)
    "enum_remove_value": (("safe", {"MF105"}), ("safe", set())),
    "enum_add_value": (("safe", set()), ("safe", {"MF105"})),
    "create_view": (("safe", set()), ("safe", set())),
    "create_materialized_view": (("safe", set()), ("safe", set())),
    "create_function": (("safe", set()), ("safe", set())),
    "create_trigger": (("safe", set()), ("safe", set())),
    "create_policy": (("safe", set()), ("safe", set())),
    "create_extension": (("safe", set()), ("safe", set())),
    "create_grant": (("safe", set()), ("safe", set())),
    "replace_view": (("safe", set()), ("safe", set())),
    "geospatial": (("safe", set()), ("destructive", {"DS102", "DS103"})),
}


@pytest.mark.parametrize("case", sorted(RENDERED))
def test_revisions_the_plugins_render_are_read(case: str) -> None:
    rendered = _rendered()[case]
    source = "\n".join([
        '"""rendered by the plugin"""', "from alembic import op", "import sqlalchemy as sa",
        *rendered["imports"], 'revision = "abc"', "down_revision = None", "",
        "def upgrade():", "    " + rendered["upgrade"], "", "def downgrade():", "    " + rendered["downgrade"], ""])
    expected_up, expected_down = RENDERED[case]
    for direction, (verdict, codes) in (("upgrade", expected_up), ("downgrade", expected_down)):
        result = classify_source(source, direction=direction)
        assert (result.verdict, set(result.codes)) == (verdict, codes), f"{direction}:\n{source}"


def test_every_rendered_case_is_checked() -> None:
    assert set(_rendered()) == set(RENDERED)


# --- what the plugins really do to rows, on PostgreSQL ----------------------------------------

@dataclass(frozen=True)
class Run:
    """One fixture direction run on a database prepared by ``setup``."""

    file: str
    direction: str
    setup: str
    #: What the migration fails with (a part of the error), or None: it succeeds.
    fails_with: str | None = None
    #: Columns whose values the model says change: "table.column" -> values after.
    rewritten: tuple[tuple[str, tuple], ...] = ()
    #: Columns the model says go away.
    dropped: tuple[str, ...] = ()
    #: Derived columns the plugin refills (compared for being filled, not equal).
    derived: tuple[str, ...] = ()
    #: Codes the plugin's SQL shows statement by statement that the model accounts
    #: for: sync_enum_values converts each column to the re-created type (TC101),
    #: keeping every value, and re-creates the indexes that depend on the type over
    #: the same rows (MF101 for a unique one, which held on them before);
    #: sync_trigger's column=column UPDATE (DS105) only refills the derived vector.
    explained: frozenset[str] = frozenset()


ENUM_TABLE = ("CREATE TYPE myenum AS ENUM ({values}); "
              "CREATE TABLE example_table (test_field int PRIMARY KEY, enum_field myenum); "
              "INSERT INTO example_table VALUES {rows};")
ACCOUNTS = ("CREATE TABLE accounts (id int PRIMARY KEY, email text, active bool, owner text, "
            "created_at timestamptz DEFAULT now(), updated_at timestamptz); "
            "CREATE TABLE payments (id int PRIMARY KEY, paid_at timestamptz, amount numeric, currency text); "
            "CREATE TABLE audit_counts (n int); INSERT INTO audit_counts VALUES (0); "
            "INSERT INTO accounts (id, email, active, owner) VALUES (1, 'a@x', true, 'ann'), (2, 'b@x', false, 'bob'); "
            "INSERT INTO payments VALUES (1, '2024-01-05', 10, 'EUR'), (2, '2024-02-07', 20, 'USD');")
VIEWS = ("CREATE VIEW active_accounts AS SELECT accounts.id, accounts.email FROM accounts WHERE accounts.active; "
         "CREATE MATERIALIZED VIEW monthly_totals AS SELECT date_trunc('month', payments.paid_at) AS month, "
         "sum(payments.amount) AS total FROM payments GROUP BY 1;")
#: What alembic-postgresql-enum raises when a row holds a value the new type lacks.
ROW_HOLDS_VALUE = "New enum values can not be set"
SYNC, REFILL = frozenset({"TC101", "MF101"}), frozenset({"DS105"})
ARTICLES = ("CREATE TABLE article (id int PRIMARY KEY, name text, search_vector tsvector); "
            "INSERT INTO article (id, name) VALUES (1, 'Alembic plugins'), (2, 'Enum values');")

RUNS = {
    "remove a value no row holds": Run(
        "enum_remove_value.py", "upgrade",
        ENUM_TABLE.format(values="'one', 'two', 'three'", rows="(1, 'one'), (2, 'two')"), explained=SYNC),
    "remove a value a row holds": Run(
        "enum_remove_value.py", "upgrade",
        ENUM_TABLE.format(values="'one', 'two', 'three'", rows="(1, 'one'), (2, 'three')"),
        fails_with=ROW_HOLDS_VALUE),
    "rename a value": Run(
        "enum_rename_value.py", "upgrade",
        ENUM_TABLE.format(values="'one', 'two', 'tree'", rows="(1, 'tree'), (2, 'one')"),
        rewritten=(("example_table.enum_field", ("three", "one")),)),
    "add values": Run(
        "enum_add_values.py", "upgrade", ENUM_TABLE.format(values="'one', 'two', 'three'", rows="(1, 'three')")),
    "remove the added values a row holds": Run(
        "enum_add_values.py", "downgrade",
        ENUM_TABLE.format(values="'one', 'two', 'three', 'four', 'five'", rows="(1, 'four')"),
        fails_with=ROW_HOLDS_VALUE),
    "reorder with a partial unique index": Run(
        "enum_reorder_with_index.py", "upgrade",
        "CREATE TYPE userstatus AS ENUM ('active', 'deleted', 'pending'); "
        "CREATE TABLE users (id int PRIMARY KEY, username text, status userstatus); "
        "CREATE UNIQUE INDEX uq_user_username ON users (username) WHERE status <> 'deleted'; "
        "INSERT INTO users VALUES (1, 'ann', 'active'), (2, 'ann', 'deleted'), (3, 'bob', 'pending');",
        explained=SYNC),
    "views and a materialized view": Run("utils_views.py", "upgrade", ACCOUNTS),
    "views dropped": Run("utils_views.py", "downgrade", ACCOUNTS + VIEWS),
    "views replaced": Run("utils_views_replace.py", "upgrade", ACCOUNTS + VIEWS),
    "function, trigger and policy": Run("utils_trigger_policy.py", "upgrade", ACCOUNTS),
    "function replaced": Run("utils_function_replace.py", "upgrade",
                             "CREATE FUNCTION to_upper(some_text text) RETURNS text AS $$ select upper(some_text) $$ "
                             "LANGUAGE SQL; " + ACCOUNTS),
    "extension and grant": Run("utils_extension_grant.py", "upgrade",
                               "DO $$ BEGIN CREATE ROLE reporting NOLOGIN; EXCEPTION WHEN duplicate_object THEN "
                               "NULL; END $$; " + ACCOUNTS),
    "extension dropped with CASCADE": Run(
        "utils_extension_cascade.py", "upgrade",
        "CREATE EXTENSION citext; CREATE TABLE people (id int PRIMARY KEY, email citext, name text); "
        "INSERT INTO people VALUES (1, 'A@x', 'ann');", dropped=("people.email",)),
    "search trigger synced": Run("search_add_content.py", "upgrade", ARTICLES, derived=("article.search_vector",),
                                 explained=REFILL),
    "search set up": Run(
        "search_setup.py", "upgrade",
        "CREATE TABLE documents (id int PRIMARY KEY, title text, body text); "
        "INSERT INTO documents VALUES (1, 'Lease', 'signed in May'), (2, 'Deed', NULL);",
        derived=("documents.search_vector",), explained=REFILL),
}


def _contents(conn: psycopg.Connection) -> dict[str, list[dict]]:
    """Every row of every table, as text, ordered by the first column."""
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY 1")]
    found = {}
    for table in tables:
        cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY 1')
        names = [d.name for d in cursor.description]
        found[table] = [{n: (None if v is None else str(v)) for n, v in zip(names, row)} for row in cursor]
    return found


def _expected_after(before: dict[str, list[dict]], run: Run) -> dict[str, list[dict]]:
    expected = {table: [dict(row) for row in rows] for table, rows in before.items()}
    for column, values in run.rewritten:
        table, name = column.split(".")
        for row, value in zip(expected[table], values):
            row[name] = value
    for column in run.dropped:
        table, name = column.split(".")
        for row in expected[table]:
            del row[name]
    return expected


@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_model_matches_what_the_plugin_does(name: str, pg_url: str) -> None:
    run = RUNS[name]
    url = make_url(pg_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, autocommit=True) as conn:
        conn.execute(run.setup)
        before = _contents(conn)
        result = subprocess.run(
            [sys.executable, str(SUPPORT / "plugin_revision.py"), pg_url, str(FIXTURES / run.file), run.direction],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout)
        after = _contents(conn)

    classification = classify_file(FIXTURES / run.file, direction=run.direction)
    assert outcome["ok"] == (run.fails_with is None), outcome["error"]
    if run.fails_with is not None:
        assert run.fails_with in outcome["error"]
        # It failed on a row holding a removed value, and lost nothing: may-fail.
        assert after == before
        assert classification.may_fail and not classification.is_destructive
        return
    for column in run.derived:
        table, name = column.split(".")
        assert all(row[name] for row in after[table]), f"{column} was not filled"
        for rows in (before[table], after[table]):
            for row in rows:
                row.pop(name, None)
        for row in after[table]:  # columns the revision added are new, not old data
            for added in set(row) - set(before[table][0]):
                del row[added]
    assert after == _expected_after(before, run)
    changed = bool(run.rewritten or run.dropped)
    assert classification.is_destructive == changed, classification.findings
    if changed:
        messages = " ".join(f.message for f in classification.findings)
        for column, _ in run.rewritten:
            assert column in messages
    else:
        # Whatever SQL the plugin sent for a safe model is judged harmless statement by
        # statement too, apart from what the model accounts for (Run.explained).
        schema = SchemaState()
        effects = [e for statement in outcome["statements"]
                   for e in classify_sql(statement, "postgres", schema) if e.code not in run.explained]
        assert effects == [], outcome["statements"]


def test_a_function_created_as_an_entity_counts_its_body_when_called() -> None:
    """Creating it changes no rows; calling it in the same revision runs its body."""
    body = """\
        backfill = PGFunction(schema="public", signature="backfill()",
                              definition="returns void as $$ update accounts set plan = 'free' $$ language sql")
        op.create_entity(backfill)
        """
    imports = "from alembic_utils.pg_function import PGFunction\n"
    assert classify_source(revision(body, imports=imports)).verdict == "safe"
    called = classify_source(revision(body + 'op.execute("SELECT public.backfill()")\n', imports=imports))
    assert called.codes == {"DS105"}
    assert called.findings[0].message == \
        "updates rows of accounts in place (in backfill(), created in this revision and called here)"
