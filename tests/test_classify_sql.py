"""The SQL statement classifier (sqlglot-based), on its own."""

from __future__ import annotations

import pytest

from safeguard.classify.sql import classify_sql
from safeguard.classify.state import SchemaState
from safeguard.classify.statements import split_statements


def codes(sql: str, dialect: str | None = None) -> list[str]:
    return [effect.code for effect in classify_sql(sql, dialect, SchemaState())]


@pytest.mark.parametrize(("sql", "expected"), [
    ("DROP SCHEMA IF EXISTS legacy_import CASCADE", ["DS101"]),
    ("DROP TABLE IF EXISTS\n    legacy_owner_notes", ["DS102"]),
    ("drop table a, b", ["DS102", "DS102"]),
    ("alter table documents drop column legacy_ref", ["DS103"]),
    ("ALTER TABLE documents DROP legacy_ref", ["DS103"]),
    ("TRUNCATE TABLE staging_bank_feed RESTART IDENTITY", ["DS104"]),
    ("delete from documents where property_id is null", ["DS104"]),
    ("UPDATE properties SET status = 'available'", ["DS105"]),
    ("WITH gone AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM gone", ["DS104"]),
    ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", ["DS105"]),
    ("ALTER TABLE t ALTER COLUMN c TYPE VARCHAR(2)", ["TC101"]),
    ("ALTER TABLE t ALTER COLUMN c SET NOT NULL", ["MF104"]),
    ("ALTER TABLE t RENAME TO u", ["BC101"]),
    ("ALTER TABLE t RENAME COLUMN a TO b", ["BC102"]),
    ("ALTER TABLE t RENAME a TO b", ["BC102"]),  # PostgreSQL, as Alembic renders it
    ("ALTER TABLE t ADD COLUMN a INT NOT NULL", ["MF103"]),
    ("ALTER TABLE t ADD CONSTRAINT uq UNIQUE (a)", ["MF101"]),
    ("CREATE UNIQUE INDEX uq ON tenants (email)", ["MF101"]),
    ("CALL purge_everything()", ["UN101"]),
])
def test_destructive_statements(sql: str, expected: list[str]) -> None:
    assert codes(sql) == expected


@pytest.mark.parametrize("sql", [
    "CREATE INDEX ix ON documents (checksum)",
    "CREATE VIEW v AS SELECT id FROM properties",
    "DROP VIEW IF EXISTS v",
    "DROP INDEX ix",
    "ALTER TABLE t DROP CONSTRAINT fk",
    "ALTER TABLE t RENAME CONSTRAINT a TO b",
    "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) NOT VALID",
    "CREATE TYPE mood AS ENUM ('a', 'b')",
    "ALTER TYPE mood ADD VALUE 'c'",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX CONCURRENTLY ix ON t (a)",
    "REFRESH MATERIALIZED VIEW mv",
    "PRAGMA foreign_keys = OFF",
    "ALTER TABLE t ALTER COLUMN c DROP NOT NULL",
    "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1",
    "ALTER TABLE t ADD COLUMN a INT NOT NULL DEFAULT 0",
    "ALTER TABLE t ADD COLUMN a INT",
    "COMMENT ON TABLE t IS 'drop me later'",
    "INSERT INTO audit_log (a) SELECT id FROM properties",
    "SELECT setval(pg_get_serial_sequence('documents', 'id'), 1, false)",
    "SELECT 'DROP TABLE x'",
    "-- DROP TABLE x\nSELECT 1",
    "/* DELETE FROM t */ CREATE INDEX ix ON t (a)",
    "CREATE TRIGGER trg AFTER INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
    "CREATE OR REPLACE FUNCTION f() RETURNS trigger AS $$ BEGIN UPDATE p SET a = 1; RETURN NEW; END; "
    "$$ LANGUAGE plpgsql",
    "CREATE TRIGGER trg AFTER INSERT ON t BEGIN UPDATE x SET a = 1; DELETE FROM y; END",
])
def test_safe_statements(sql: str) -> None:
    assert codes(sql) == []


def test_statements_after_a_trigger_body_still_count() -> None:
    sql = "CREATE TRIGGER trg AFTER INSERT ON t BEGIN UPDATE x SET a = 1; END; DELETE FROM z"
    assert [s.text.split()[0] for s in split_statements(sql, None)] == ["CREATE", "DELETE"]
    assert codes(sql) == ["DS104"]


def test_do_blocks_run_their_body() -> None:
    assert codes("DO $$ BEGIN IF EXISTS (SELECT 1) THEN DELETE FROM x; END IF; END $$") == ["DS104"]
    assert codes("DO $$ BEGIN EXECUTE 'DROP TABLE ' || t; END $$") == ["UN101"]


def test_new_tables_are_not_existing_data() -> None:
    schema = SchemaState()
    sql = "CREATE TABLE n (a INT); CREATE UNIQUE INDEX u ON n (a); UPDATE n SET a = 1"
    assert classify_sql(sql, None, schema) == []
    assert [e.code for e in classify_sql("ALTER TABLE n ADD COLUMN b INT NOT NULL", None, schema)] == []
    assert classify_sql("DROP TABLE n", None, schema) == []


def test_messages_name_table_and_column() -> None:
    (effect,) = classify_sql("alter table documents drop column legacy_ref", "postgres", SchemaState())
    assert effect.message == "drops column documents.legacy_ref"


def test_unreadable_sql_is_unanalysable() -> None:
    assert codes("frobnicate the database") == ["UN101"]
    assert codes("DELETE FROM t WHERE a = 'unterminated") == ["UN101"]


@pytest.mark.parametrize("dialect", [None, "postgres", "sqlite"])
def test_dialects_agree_on_the_basics(dialect: str | None) -> None:
    assert codes("DELETE FROM t; UPDATE u SET a = 1; DROP TABLE v", dialect) == ["DS104", "DS105", "DS102"]
