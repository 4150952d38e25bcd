"""What a run touched, read from the statements it executed on a real connection."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from safeguard.footprint import Footprint, Schema, StatementLog, of_run


@pytest.fixture
def connection(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}", poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id))")
        conn.exec_driver_sql("CREATE TABLE other (id INTEGER PRIMARY KEY)")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def _log(connection, *statements: str) -> StatementLog:
    log = StatementLog()
    log.watch(connection)
    for statement in statements:
        connection.exec_driver_sql(statement)
    return log


@pytest.mark.parametrize("statements, tables", [
    (["UPDATE parent SET name = 'x' WHERE id = 1"], {"parent"}),
    (["DELETE FROM Parent WHERE id > 3", "SELECT count(*) FROM other"], {"Parent"}),
    (["INSERT INTO other (id) SELECT id FROM parent", "PRAGMA main.table_info('parent')"], {"other"}),
    (["CREATE TABLE _alembic_tmp_parent (id INTEGER PRIMARY KEY)",
      "INSERT INTO _alembic_tmp_parent (id) SELECT id FROM parent", "DROP TABLE parent",
      "ALTER TABLE _alembic_tmp_parent RENAME TO parent"], {"parent", "_alembic_tmp_parent"}),
    ([f"INSERT INTO other (id) VALUES ({i})" for i in range(100, 400)], {"other"}),
])
def test_the_tables_statements_write_or_define(connection, statements, tables):
    log = _log(connection, *statements)
    assert log.named_tables() == (tables, None)
    assert len(log.shapes) <= len(statements) and len(log.shapes) < 10  # literals folded


@pytest.mark.parametrize("statement, why", [
    ("PRAGMA writable_schema = 0", "the run executed PRAGMA writable_schema"),
    ("ATTACH DATABASE ':memory:' AS x", "the run executed a statement safeguard does not know the effect of: ATTACH"),
])
def test_a_statement_that_may_write_what_it_does_not_name_makes_it_unknown(connection, statement, why):
    assert _log(connection, statement).named_tables()[1].startswith(why)


def test_nothing_watched_is_unknown():
    assert StatementLog().named_tables() == (set(), "no statement of the run could be watched")


def test_the_footprint_adds_schema_changes_and_resolves_names():
    before = Schema({"parent": "a", "child": "b", "other": "c", "gone": "d"},
                    {"child": frozenset({"parent"})})
    after = Schema({"parent": "a", "child": "b", "other": "c2", "grandchild": "e"},
                   {"child": frozenset({"parent"}), "grandchild": frozenset({"child"})})
    log = StatementLog()
    log.merge({"shapes": ["UPDATE PARENT SET name = 0"], "dialect": "sqlite", "watched": 1})
    footprint = of_run(log, before, after)
    assert footprint.tables == {"parent", "other", "gone", "grandchild"}
    assert footprint.scope(after) == {"parent", "child", "grandchild", "other"}
    trigger = of_run(log, before, Schema(after.tables, after.references, frozenset({"parent"})))
    assert trigger == Footprint.unknown("table parent has a trigger, which may write tables no "
                                        "statement names")


def test_postgresql_casts_are_not_taken_for_placeholders():
    """SQLAlchemy's PostgreSQL catalog reads (Alembic runs them on the migration's
    connection) cast with ``::``; read as a ``:name`` placeholder, the cast made every
    PostgreSQL run's footprint unknown and its checks whole-database."""
    log = StatementLog()
    log.merge({"dialect": "postgresql", "watched": 1, "shapes": [
        "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class "
        "WHERE pg_catalog.pg_class.relname IN (%(table_names_1)s::VARCHAR) "
        "AND pg_catalog.pg_class.relkind = ANY (ARRAY[%(param_1)s::VARCHAR, %(param_2)s::VARCHAR])",
        "INSERT INTO notes (id, body) VALUES (:id, 'x'::text)",
        "UPDATE alembic_version SET version_num=%(version_num)s WHERE alembic_version.version_num = 'a'",
    ]})
    assert log.named_tables() == ({"notes", "alembic_version"}, None)


def test_the_reason_quotes_the_statement_as_written_on_postgresql(pg_url):
    """Issue 30 item 9: the integrity check's detail ("the whole database: the run
    executed DO (...)") showed the statement as psycopg receives it, every % doubled
    by SQLAlchemy, and with its literals blanked to 0 (the shape the log keeps)."""
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            log = StatementLog()
            log.watch(conn)
            conn.execute(sa.text("DO $$ BEGIN PERFORM 1 WHERE 'abc' LIKE 'a%'; END $$"))
    finally:
        engine.dispose()
    why = log.named_tables()[1]
    assert why is not None and why.startswith("the run executed DO")
    assert "LIKE 'a%'" in why
