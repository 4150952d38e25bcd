"""Each revision shape of the corpus README, as small inline sources, classified by
the static analysis."""

from __future__ import annotations

import textwrap

import pytest

from safeguard.classify import Acknowledgement, ClassifyError, classify_source

HEADER = (
    "from alembic import op\n"
    "import sqlalchemy as sa\n"
    "from sqlalchemy import orm\n"
    "\n"
    'revision = "aaaaaaaaaaaa"\n'
    "down_revision = None\n"
    "\n"
)


def revision(body: str) -> str:
    return HEADER + textwrap.dedent(body)


def codes(body: str, **kwargs) -> set[str]:
    return set(classify_source(revision(body), path="<test>", **kwargs).codes)


def verdict(body: str, **kwargs) -> str:
    return classify_source(revision(body), path="<test>", **kwargs).verdict


def shape(body: str, expected: set[str], name: str):
    return pytest.param(body, expected, id=name)


PLAIN_OPS = [
    shape("def upgrade():\n    op.drop_column('tenants', 'fax')\n", {"DS103"}, "drop_column"),
    shape("def upgrade():\n    op.drop_table('import_batches')\n", {"DS102"}, "drop_table"),
    shape("def upgrade():\n    op.rename_table('audit_log', 'audit_events')\n", {"BC101"}, "rename_table"),
    shape("def upgrade():\n    op.alter_column('tenants', 'full_name', new_column_name='display_name')\n",
          {"BC102"}, "alter_column rename"),
    shape("def upgrade():\n    op.alter_column('p', 'state', existing_type=sa.String(20), type_=sa.String(2))\n",
          {"TC101"}, "alter_column type"),
    shape("def upgrade():\n    op.alter_column('t', 'posted_on', existing_type=sa.Date(), nullable=False)\n",
          {"MF104"}, "alter_column not null"),
    shape("def upgrade():\n    op.add_column('audit_log', sa.Column('actor', sa.String(80), nullable=False))\n",
          {"MF103"}, "add NOT NULL column"),
    shape("def upgrade():\n    op.create_index('uq_email', 'tenants', ['email'], unique=True)\n",
          {"MF101"}, "unique index"),
    shape("def upgrade():\n    op.create_unique_constraint('uq', 'documents', ['property_id', 'path'])\n",
          {"MF101"}, "unique constraint"),
    shape("def upgrade():\n    op.add_column('o', sa.Column('p', sa.String(10), nullable=False, server_default='n'))\n",
          set(), "NOT NULL with server default"),
    shape("def upgrade():\n    op.add_column('tenants', sa.Column('lease_start', sa.Date, nullable=True))\n",
          set(), "nullable column"),
    shape("def upgrade():\n    op.add_column('tenants', sa.Column('lease_end', sa.Date))\n", set(), "default nullable"),
    shape("def upgrade():\n    op.create_index('ix', 'transactions', ['posted_on'])\n", set(), "plain index"),
    shape("def upgrade():\n    op.drop_index('ix', table_name='transactions')\n", set(), "drop index"),
    shape("def upgrade():\n    op.drop_constraint('fk_x', 'transactions', type_='foreignkey')\n",
          set(), "drop constraint"),
    shape("def upgrade():\n    op.create_foreign_key('fk', 'transactions', 'obligations', ['obligation_id'], ['id'])\n",
          set(), "foreign key"),
    shape("def upgrade():\n    op.create_table_comment('obligations', 'Money owed')\n"
          "    op.alter_column('transactions', 'memo', existing_type=sa.String(200), comment='Free text')\n",
          set(), "comments"),
    shape("""\
          def upgrade():
              t = op.create_table('n', sa.Column('id', sa.Integer, primary_key=True))
              op.add_column('n', sa.Column('code', sa.String(5), nullable=False))
              op.create_index('uq_n_code', 'n', ['code'], unique=True)
              op.bulk_insert(t, [{'id': 1, 'code': 'a'}])
          """, set(), "new table: NOT NULL, unique and seed rows are fine"),
]

BATCH_OPS = [
    shape("""\
          def upgrade():
              with op.batch_alter_table('obligations') as batch_op:
                  batch_op.drop_column('legacy_code')
          """, {"DS103"}, "batch drop_column"),
    shape("""\
          def upgrade():
              with op.batch_alter_table('properties') as batch_op:
                  batch_op.alter_column('address', existing_type=sa.String(50), type_=sa.String(255))
          """, {"TC101"}, "batch widen"),
    shape("""\
          def upgrade():
              with op.batch_alter_table('audit_log', recreate='always') as batch_op:
                  batch_op.add_column(sa.Column('actor', sa.String(80), nullable=False))
          """, {"MF103"}, "batch NOT NULL column"),
    shape("""\
          def upgrade():
              with op.batch_alter_table('documents') as b:
                  b.create_unique_constraint('uq', ['property_id', 'path'])
                  b.create_index('uq_path', ['path'], unique=True)
          """, {"MF101"}, "batch unique"),
    shape("""\
          def upgrade():
              with op.batch_alter_table('documents') as batch_op:
                  batch_op.alter_column('doc_type', new_column_name='category')
          """, {"BC102"}, "batch rename"),
    shape("""\
          def upgrade():
              with op.batch_alter_table('transactions') as batch_op:
                  batch_op.add_column(sa.Column('obligation_id', sa.Integer, nullable=True))
                  batch_op.create_foreign_key('fk', 'obligations', ['obligation_id'], ['id'])
          """, set(), "batch nullable column and foreign key"),
]

RAW_SQL = [
    shape('def upgrade():\n    op.execute("""\n        UPDATE properties\n           SET status = \'a\'\n    """)\n',
          {"DS105"}, "UPDATE"),
    shape('def upgrade():\n    op.execute("delete from documents where property_id is null")\n', {"DS104"},
          "lower-case delete"),
    shape('def upgrade():\n    op.execute("alter table documents drop column legacy_ref")\n', {"DS103"},
          "alter table drop column"),
    shape('def upgrade():\n    op.execute("""\n        DROP TABLE IF EXISTS\n            legacy_owner_notes\n    """)\n',
          {"DS102"}, "DROP TABLE"),
    shape('def upgrade():\n    op.execute("TRUNCATE TABLE staging_bank_feed RESTART IDENTITY")\n', {"DS104"}, "TRUNCATE"),
    shape('def upgrade():\n    op.execute("DROP SCHEMA IF EXISTS legacy CASCADE")\n', {"DS101"}, "DROP SCHEMA"),
    shape('def upgrade():\n    op.execute("CREATE UNIQUE INDEX uq ON tenants (email)")\n', {"MF101"}, "CREATE UNIQUE INDEX"),
    shape('def upgrade():\n    op.execute("ALTER TABLE tenants RENAME COLUMN phone TO mobile")\n', {"BC102"}, "RENAME COLUMN"),
    shape('def upgrade():\n    op.execute("CREATE INDEX ix_documents_checksum ON documents (checksum)")\n', set(),
          "CREATE INDEX"),
    shape('def upgrade():\n    op.execute("CREATE VIEW v AS SELECT id FROM properties WHERE status = \'a\'")\n', set(),
          "CREATE VIEW"),
    shape('def upgrade():\n    op.execute("-- DROP TABLE x\\nCREATE INDEX ix ON t (a)")\n', set(), "DROP in a SQL comment"),
    shape('def upgrade():\n    op.execute("INSERT INTO notes (body) VALUES (\'please DROP TABLE x\')")\n', set(),
          "DROP in a SQL string literal"),
    shape('SQL = "UPDATE t SET a = 1"\n\ndef upgrade():\n    op.execute(SQL)\n', {"DS105"}, "module constant"),
    shape('def upgrade():\n    op.execute(sa.text("UPDATE t SET memo = :m").bindparams(m="x"))\n', {"DS105"},
          "sa.text bindparams"),
    shape('def upgrade():\n    op.get_bind().execute(sa.text("DELETE FROM audit_log WHERE id < 3"))\n', {"DS104"},
          "bind.execute text"),
    shape('def upgrade():\n    op.get_bind().exec_driver_sql("delete from t")\n', {"DS104"}, "exec_driver_sql"),
    shape('def upgrade():\n    c = op.get_bind().connection.cursor()\n    c.execute("UPDATE t SET a = 1")\n',
          {"DS105"}, "DBAPI cursor"),
]

CORE_AND_ORM = [
    shape("""\
          obligations = sa.table('obligations', sa.column('status', sa.String))
          def upgrade():
              op.execute(obligations.update().where(obligations.c.status == 'open').values(status='x'))
          """, {"DS105"}, "table.update()"),
    shape("""\
          audit = sa.table('audit_log', sa.column('id', sa.Integer))
          def upgrade():
              op.execute(audit.delete().where(audit.c.id < 5))
          """, {"DS104"}, "table.delete()"),
    shape("""\
          def upgrade():
              txn = sa.table('transactions', sa.column('amount'))
              op.get_bind().execute(sa.update(txn).values(amount=0))
          """, {"DS105"}, "sa.update()"),
    shape("""\
          t = sa.table('transactions', sa.column('is_void'))
          def upgrade():
              bind = op.get_bind()
              bind.execute(sa.delete(t).where(t.c.is_void == sa.true()))
          """, {"DS104"}, "sa.delete()"),
    shape("""\
          t = sa.table('audit_log', sa.column('action'))
          def upgrade():
              op.execute(sa.insert(t).values(action='import'))
              op.bulk_insert(t, [{'action': 'x'}])
          """, set(), "insert-only data migration"),
    shape("""\
          class _Base(orm.DeclarativeBase):
              pass
          class _Obligation(_Base):
              __tablename__ = 'obligations'
              id = sa.Column(sa.Integer, primary_key=True)
          def upgrade():
              session = orm.Session(bind=op.get_bind())
              session.query(_Obligation).filter(_Obligation.id > 3).delete(synchronize_session=False)
          """, {"DS104"}, "ORM query delete"),
    shape("""\
          class _Base(orm.DeclarativeBase):
              pass
          class _Property(_Base):
              __tablename__ = 'properties'
              id = sa.Column(sa.Integer, primary_key=True)
              city = sa.Column(sa.String(50))
          def upgrade():
              session = orm.Session(bind=op.get_bind())
              for prop in session.query(_Property).all():
                  if prop.city != prop.city.title():
                      prop.city = prop.city.title()
              session.flush()
          """, {"DS105"}, "ORM attribute updates"),
    shape("""\
          class _Base(orm.DeclarativeBase):
              pass
          class _Tenant(_Base):
              __tablename__ = 'tenants'
              id = sa.Column(sa.Integer, primary_key=True)
          def upgrade():
              with orm.Session(bind=op.get_bind()) as session:
                  session.query(_Tenant).update({'id': _Tenant.id + 1})
                  session.delete(session.get(_Tenant, 1))
                  session.add(_Tenant(id=99))
                  session.commit()
          """, {"DS104", "DS105"}, "ORM bulk update and session.delete"),
]

RUNTIME = [
    shape("""\
          CHILD_TABLES = ['documents', 'tenants']
          def upgrade():
              for table in CHILD_TABLES:
                  op.execute(f"DELETE FROM {table} WHERE property_id NOT IN (SELECT id FROM properties)")
          """, {"UN101", "DS104"}, "f-string loop"),
    shape("""\
          def upgrade():
              for name in ('properties', 'tenants'):
                  op.add_column(name, sa.Column('updated_at', sa.DateTime, nullable=True))
                  op.execute("UPDATE {} SET updated_at = CURRENT_TIMESTAMP".format(name))
          """, {"UN101", "DS105"}, ".format() loop"),
    shape("""\
          def upgrade():
              op.execute("UPDATE %s SET a = 1" % TABLE)
          """, {"UN101", "DS105"}, "% formatting"),
    shape("""\
          def upgrade():
              op.execute("DELETE FROM " + table_name())
          """, {"UN101", "DS104"}, "concatenation with a non-literal"),
    shape("""\
          def upgrade():
              inspector = sa.inspect(op.get_bind())
              for name in sorted(inspector.get_table_names()):
                  if name.startswith('staging_'):
                      op.drop_table(name)
          """, {"UN101", "DS102"}, "inspector-driven drops"),
    shape("""\
          CLEANUP_PLAN = [('drop_column', 'properties', 'mls_id')]
          def upgrade():
              for operation, table_name, column_name in CLEANUP_PLAN:
                  getattr(op, operation)(table_name, column_name)
          """, {"UN101", "DS103"}, "getattr over a plan"),
    shape("""\
          STEPS = load_steps()
          NOTE = "the plan may drop_column or rename_table"
          KNOWN = ("drop_column", "rename_table")
          def upgrade():
              for step in STEPS:
                  getattr(op, step.name)(*step.args)
          """, {"UN101", "DS103", "BC101"}, "getattr with names from module constants"),
    shape("""\
          def upgrade():
              dupes = op.get_bind().execute(sa.text("SELECT MIN(id) FROM audit_log GROUP BY x")).fetchall()
              for (keep_id,) in dupes:
                  op.get_bind().execute(sa.text("DELETE FROM audit_log WHERE id <> :k"), {"k": keep_id})
          """, {"UN101", "DS104"}, "runtime-conditional delete"),
    shape("""\
          def upgrade():
              count = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM t")).scalar()
              if not count:
                  return
              op.execute("DELETE FROM t")
          """, {"UN101", "DS104"}, "after a data-dependent early return"),
]

HELPERS_AND_TEXT = [
    shape("""\
          def _retire_table(table_name):
              \"\"\"Remove a table.\"\"\"
              op.drop_table(table_name)
          def upgrade():
              _retire_table('import_batches')
          """, {"DS102"}, "local helper"),
    shape("""\
          def _a(n):
              _b(n)
          def _b(n):
              _a(n)
              op.drop_column('t', n)
          def upgrade():
              _a('c')
          """, {"DS103"}, "mutually recursive helpers"),
    shape("""\
          class Migrator:
              def run(self):
                  op.drop_table('x')
          def upgrade():
              Migrator().run()
          """, {"DS102"}, "method of a local class"),
    shape("""\
          def upgrade():
              op.create_table('documents_new', sa.Column('id', sa.Integer, primary_key=True))
              op.execute("INSERT INTO documents_new (id) SELECT id FROM documents")
              op.drop_table('documents')
              op.rename_table('documents_new', 'documents')
          """, {"DS102", "BC101"}, "rebuild by copying"),
    shape("""\
          import logging
          log = logging.getLogger(__name__)
          MANUAL_ROLLBACK_SQL = "ALTER TABLE properties DROP COLUMN parcel_number"
          def upgrade():
              \"\"\"We do not DROP TABLE anything here.\"\"\"
              # an earlier draft did DROP TABLE parcels_import
              op.add_column('properties', sa.Column('parcel_number', sa.String(40), nullable=True))
              log.info("to undo by hand: %s", MANUAL_ROLLBACK_SQL)
              unused = "DELETE FROM properties"
          """, set(), "DROP only in text"),
    shape('''\
          def upgrade():
              if op.get_bind().dialect.name == "postgresql":
                  op.execute("""
                      CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$
                      BEGIN
                          UPDATE properties SET last_activity_at = now() WHERE id = NEW.property_id;
                          RETURN NEW;
                      END;
                      $$ LANGUAGE plpgsql
                  """)
          ''', set(), "PostgreSQL function body with UPDATE"),
    shape('''\
          def upgrade():
              op.execute("""
                  CREATE TRIGGER trg AFTER INSERT ON transactions
                  BEGIN
                      UPDATE properties SET touched = 1 WHERE id = NEW.property_id;
                      DELETE FROM cache WHERE property_id = NEW.property_id;
                  END
              """)
          ''', set(), "SQLite trigger body with UPDATE and DELETE"),
    shape('def upgrade():\n    op.execute("DO $$ BEGIN DELETE FROM staging; END $$")\n', {"DS104"},
          "DO block runs its body"),
    shape("from app.maintenance import purge_orphans\n\ndef upgrade():\n    purge_orphans(op.get_bind())\n",
          {"UN101"}, "helper imported from the application"),
]


@pytest.mark.parametrize(("body", "expected"), PLAIN_OPS + BATCH_OPS + RAW_SQL + CORE_AND_ORM + RUNTIME
                         + HELPERS_AND_TEXT)
def test_shape(body: str, expected: set[str]) -> None:
    assert codes(body) == expected


# --- empty and missing upgrade() ----------------------------------------------------------------


@pytest.mark.parametrize("body", [
    "def upgrade():\n    pass\n",
    'def upgrade():\n    """Nothing to do: DROP TABLE is not run here."""\n',
    "def upgrade():\n    ...\n",
])
def test_empty_upgrade_is_safe(body: str) -> None:
    result = classify_source(revision(body))
    assert result.verdict == "safe" and result.findings == ()


def test_missing_upgrade_is_safe_with_no_findings() -> None:
    """Documented choice: Alembic refuses such a file, so it can lose no data."""
    result = classify_source(revision("def downgrade():\n    op.drop_table('x')\n"))
    assert result.verdict == "safe" and result.findings == ()


def test_imported_helper_alone_is_unknown() -> None:
    body = "import app.cleanup\n\ndef upgrade():\n    app.cleanup.run()\n"
    assert verdict(body) == "unknown"


def test_helper_findings_point_at_the_call_in_upgrade() -> None:
    body = "def _drop(name):\n    op.drop_table(name)\n\ndef upgrade():\n    _drop('a')\n    _drop('b')\n"
    result = classify_source(revision(body))
    assert [(f.code, f.line) for f in result.findings] == [("DS102", 12), ("DS102", 13)]
    assert result.findings[1].message == "drops table b (in _drop())"


# --- dialects --------------------------------------------------------------------------------------

PG_ONLY = """\
def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SCHEMA IF EXISTS legacy_import CASCADE")
    else:
        pass
"""


def test_dialect_branches_are_a_union_without_a_dialect() -> None:
    assert codes(PG_ONLY) == {"DS101"}


@pytest.mark.parametrize(("dialect", "expected"), [("sqlite", set()), ("postgresql", {"DS101"}),
                                                   ("postgres", {"DS101"})])
def test_dialect_pruning(dialect: str, expected: set[str]) -> None:
    assert codes(PG_ONLY, dialect=dialect) == expected


@pytest.mark.parametrize("test", [
    'op.get_bind().dialect.name != "postgresql"',
    'op.get_context().dialect.name not in ("postgresql", "mysql")',
    'context.get_context().dialect.name == "sqlite"',
    'not op.get_bind().dialect.name.startswith("postgres")',
])
def test_pruning_understands_the_usual_dialect_tests(test: str) -> None:
    body = f"from alembic import context\n\ndef upgrade():\n    if {test}:\n        return\n    op.drop_table('x')\n"
    assert codes(body, dialect="sqlite") == set()
    assert codes(body, dialect="postgresql") == {"DS102"}
    assert codes(body) == {"DS102"}


def test_dialect_name_through_a_variable_and_a_ternary() -> None:
    body = """\
    def upgrade():
        dialect = op.get_bind().dialect.name
        op.execute("TRUNCATE t" if dialect == "postgresql" else "SELECT 1")
    """
    assert codes(body, dialect="sqlite") == set()
    assert codes(body, dialect="postgresql") == {"DS104"}


def test_ambiguous_tests_are_not_pruned() -> None:
    body = """\
    def upgrade():
        bind = op.get_bind()
        if bind.dialect.server_version_info >= (15,) or is_pg(bind):
            op.drop_table('x')
    """
    # UN101 too: is_pg() is handed the connection and cannot be followed.
    assert codes(body, dialect="sqlite") == {"DS102", "UN101"}


def test_both_branches_destructive_stay_destructive_under_pruning() -> None:
    body = """\
    def upgrade():
        if op.get_bind().dialect.name == "postgresql":
            sql = "TRUNCATE TABLE staging_bank_feed"
        else:
            sql = "DELETE FROM staging_bank_feed"
        op.execute(sql)
    """
    for dialect in (None, "sqlite", "postgresql"):
        assert codes(body, dialect=dialect) == {"DS104"}


# --- downgrade ----------------------------------------------------------------------------------------

CREATE_TABLE = """\
def upgrade():
    op.create_table("tenants", sa.Column("id", sa.Integer, primary_key=True))

def downgrade():
    op.drop_table("tenants")
"""


def test_downgrade_direction() -> None:
    assert classify_source(revision(CREATE_TABLE)).verdict == "safe"
    down = classify_source(revision(CREATE_TABLE), direction="downgrade")
    assert down.direction == "downgrade"
    assert [(f.code, f.message) for f in down.findings] == [("DS102", "drops table tenants")]


# --- acknowledgement -----------------------------------------------------------------------------------


def test_acknowledgement_not_destructive() -> None:
    body = 'safeguard = {"destructive": False, "reason": "the column was never written"}\n\n' \
           "def upgrade():\n    op.drop_column('t', 'c')\n"
    result = classify_source(revision(body))
    assert result.acknowledged
    assert result.acknowledgement == Acknowledgement(False, "the column was never written", 8)
    assert result.verdict == "destructive"  # the verdict is the classifier's; policy reads the note


@pytest.mark.parametrize(("value", "problem"), [
    ('"yes"', "not a dict"),
    ('{"destructive": False}', '"reason" is missing'),
    ('{"destructive": False, "reason": "  "}', '"reason" is missing or empty'),
    ('{"destructive": "no", "reason": "x"}', '"destructive" must be True or False'),
    ('{"destructive": False, "reson": "typo"}', "unknown key"),
    ("make_ack()", "not a literal"),
])
def test_malformed_acknowledgement_is_an_error(value: str, problem: str) -> None:
    source = revision(f"safeguard = {value}\n\ndef upgrade():\n    pass\n")
    with pytest.raises(ClassifyError) as caught:
        classify_source(source, path="versions/x.py")
    assert str(caught.value).startswith("versions/x.py:8: malformed safeguard acknowledgement")
    assert problem in str(caught.value)


# --- probable rename ----------------------------------------------------------------------------------


def test_probable_rename_with_types_from_the_downgrade() -> None:
    body = """\
    def upgrade():
        op.add_column('users', sa.Column('nickname', sa.String(length=40), nullable=True))
        op.drop_column('users', 'nick')

    def downgrade():
        op.add_column('users', sa.Column('nick', sa.VARCHAR(length=40), nullable=True))
        op.drop_column('users', 'nickname')
    """
    result = classify_source(revision(body))
    (rename,) = [f for f in result.findings if f.code == "BC102"]
    assert rename.message.startswith("probable rename of users.nick to users.nickname")
    assert "op.alter_column('users', 'nick', new_column_name='nickname')" in rename.message


def test_no_probable_rename_when_types_differ_or_tables_differ() -> None:
    different_type = """\
    def upgrade():
        op.add_column('users', sa.Column('age', sa.Integer(), nullable=True))
        op.drop_column('users', 'nick')

    def downgrade():
        op.add_column('users', sa.Column('nick', sa.VARCHAR(length=40), nullable=True))
    """
    other_table = """\
    def upgrade():
        op.add_column('accounts', sa.Column('nickname', sa.String(40), nullable=True))
        op.drop_column('users', 'nick')
    """
    assert codes(different_type) == {"DS103"}
    assert codes(other_table) == {"DS103"}


def test_dropping_a_column_added_in_the_same_revision_loses_nothing() -> None:
    body = """\
    def upgrade():
        op.add_column('t', sa.Column('tmp', sa.Integer, nullable=True))
        op.drop_column('t', 'tmp')
    """
    assert codes(body) == set()


def test_create_table_with_spread_helper_columns_is_readable() -> None:
    body = """\
    def _timestamps():
        return [sa.Column('created_at', sa.DateTime, nullable=False)]

    def upgrade():
        op.create_table('n', sa.Column('id', sa.Integer, primary_key=True), *_timestamps())
        op.create_index('uq_n', 'n', ['id'], unique=True)
    """
    assert codes(body) == set()


def test_unreadable_op_arguments_keep_the_operation_code() -> None:
    body = "def upgrade():\n    op.drop_column(*PLAN[0])\n"
    assert codes(body) == {"DS103", "UN101"}


def test_no_probable_rename_without_the_dropped_columns_type() -> None:
    """Hand-written copy-and-swap: the drop's type is unknown, so no guess is made."""
    body = """\
    def upgrade():
        op.add_column('p', sa.Column('year_new', sa.Integer(), nullable=True))
        op.execute("UPDATE p SET year_new = CAST(year AS INTEGER)")
        op.drop_column('p', 'year')
        op.alter_column('p', 'year_new', new_column_name='year')
    """
    result = classify_source(revision(body))
    assert result.codes == {"DS105", "DS103", "BC102"}
    assert not any(f.message.startswith("probable rename") for f in result.findings)


def test_alembic_multidb_template_dispatch_is_followed() -> None:
    """``globals()["upgrade_%s" % engine_name]()`` reaches every upgrade_<engine>()."""
    body = """\
    def upgrade(engine_name: str) -> None:
        globals()["upgrade_%s" % engine_name]()

    def upgrade_engine1() -> None:
        op.drop_column("t", "c")

    def upgrade_engine2() -> None:
        legacy = sa.Table("legacy", sa.MetaData())
        op.drop_table(legacy.name)
    """
    result = classify_source(revision(body))
    assert result.codes == {"DS102", "DS103"}
    assert {f.message for f in result.findings} == {
        "drops table legacy (in upgrade_engine2())", "drops column t.c (in upgrade_engine1())",
    }
