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


# --- statements judged by their kind (issue 34) --------------------------------------------

@pytest.mark.parametrize("sql", [
    # A DO block that only creates objects: CREATE TRIGGER's own EXECUTE FUNCTION is no
    # dynamic SQL.
    "DO $$ BEGIN CREATE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f(); "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'trg') THEN "
    "CREATE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE PROCEDURE f(); END IF; END $$;",
    "DO $do$ BEGIN CREATE FUNCTION g() RETURNS int AS $f$ BEGIN DELETE FROM t; RETURN 1; END $f$ "
    "LANGUAGE plpgsql; END $do$",
    # EXECUTE of one literal is read as that literal.
    "DO $$ BEGIN EXECUTE 'ALTER TYPE mood ADD VALUE ''c'''; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    "DO $$ BEGIN EXECUTE $q$CREATE INDEX ix ON t (a)$q$; END $$",
    # Statements sqlglot cannot parse, whose kind changes no rows.
    "CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)",
    "CREATE OPERATOR CLASS c FOR TYPE int USING btree AS OPERATOR 1 <",
    "ALTER OPERATOR === (int, int) OWNER TO app",
    # Function bodies that write are not run by creating them, even when the body is
    # SQL-standard or a plain string.
    "CREATE FUNCTION purge() RETURNS void LANGUAGE sql BEGIN ATOMIC DELETE FROM t; END",
    "CREATE OR REPLACE FUNCTION f() RETURNS trigger AS ' BEGIN DELETE FROM t; RETURN NEW; END; ' "
    "LANGUAGE plpgsql",
    # A function created and called whose body only reads.
    "CREATE FUNCTION one() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql; SELECT one()",
    # Spatial functions that change no rows.
    "SELECT AddGeometryColumn('lake', 'geom', 4326, 'LINESTRING', 2)",
    "SELECT CreateSpatialIndex('lake', 'geom')",
    "SELECT DiscardGeometryColumn('lake', 'geom')",
    # Dropping a type, domain or extension without CASCADE fails if a column uses it.
    "DROP TYPE IF EXISTS mood",
    "DROP EXTENSION citext",
    "DROP FUNCTION f() CASCADE",
])
def test_statements_judged_safe_by_their_kind(sql: str) -> None:
    assert codes(sql) == []


@pytest.mark.parametrize(("sql", "expected"), [
    # CASCADE drops every column whose type depends on the object.
    ("DROP TYPE mood CASCADE", ["DS103"]),
    ("DROP DOMAIN IF EXISTS email_address CASCADE", ["DS103"]),
    ("DROP EXTENSION IF EXISTS citext CASCADE", ["DS103"]),
    # Renaming an enum value rewrites what every row holding it reads.
    ("ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'", ["DS105"]),
    # A function created in the revision runs its body when called.
    ("CREATE FUNCTION backfill() RETURNS void AS $$ UPDATE accounts SET plan = 'free' "
     "WHERE plan IS NULL $$ LANGUAGE sql; SELECT backfill(); DROP FUNCTION backfill()", ["DS105"]),
    ("CREATE OR REPLACE FUNCTION public.purge() RETURNS void LANGUAGE plpgsql AS $f$ "
     "BEGIN DELETE FROM sessions; END $f$; DO $$ BEGIN PERFORM public.purge(); END $$", ["DS104"]),
    ("CREATE PROCEDURE wipe() LANGUAGE sql BEGIN ATOMIC TRUNCATE staging; END; CALL wipe()", ["DS104"]),
    # Spatial functions that drop or rename data.
    ("SELECT DropGeometryColumn('lake', 'geom')", ["DS103"]),
    ("SELECT DropGeometryTable('public', 'lake')", ["DS102"]),
    ("SELECT DropTable(NULL, 'lake')", ["DS102"]),
    ("SELECT RenameTable(NULL, 'lake', 'lakes')", ["BC101"]),
    # A DO block that modifies data stays flagged; SQL built at run time stays unknown.
    ("DO $$ BEGIN EXECUTE 'DELETE FROM t'; END $$", ["DS104"]),
    ("DO $$ BEGIN EXECUTE format('DROP TABLE %I', tbl); END $$", ["UN101"]),
    ("DO $$ BEGIN UPDATE t SET a = 1; END $$", ["DS105"]),
    ("CALL purge_everything()", ["UN101"]),
    ("frobnicate the database", ["UN101"]),
])
def test_statements_whose_kind_changes_data(sql: str, expected: list[str]) -> None:
    assert codes(sql) == expected


def test_a_called_function_is_judged_at_the_call() -> None:
    """The body counts where it runs, against the tables as they are by then: a
    function that empties a table created earlier in the revision loses nothing."""
    schema = SchemaState()
    classify_sql("CREATE TABLE scratch (a int); CREATE FUNCTION reset() RETURNS void AS "
                 "$$ DELETE FROM scratch $$ LANGUAGE sql", "postgres", schema)
    assert classify_sql("SELECT reset()", "postgres", schema) == []
    (effect,) = classify_sql("CREATE FUNCTION r2() RETURNS void AS $$ DELETE FROM accounts $$ "
                             "LANGUAGE sql; SELECT r2()", "postgres", schema)
    assert effect.message == "deletes rows from accounts (in r2(), created in this revision and called here)"


@pytest.mark.parametrize(("sql", "expected"), [
    ("DO $$ BEGIN IF to_delete THEN EXECUTE 'DELETE FROM t'; END IF; END $$", ["DS104"]),
    ("DO $$ BEGIN IF x THEN EXECUTE 'ALTER TYPE mood ADD VALUE ''it''''s'''; END IF; END $$", []),
    ("DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'DELETE FROM t RETURNING id' LOOP "
     "RAISE NOTICE '%', r.id; END LOOP; END $$", ["UN101"]),
    ("DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'SELECT id FROM t' LOOP "
     "DELETE FROM u WHERE id = r.id; END LOOP; END $$", ["UN101", "DS104"]),
    ("DO $$ BEGIN CREATE TRIGGER x AFTER INSERT ON t FOR EACH STATEMENT EXECUTE PROCEDURE f(); END $$", []),
])
def test_execute_wherever_it_stands_in_a_do_block(sql: str, expected: list[str]) -> None:
    """EXECUTE of one literal is read wherever the literal stands; an EXECUTE that is
    not a statement of its own (FOR ... IN EXECUTE) is not read, so it is UN101."""
    assert codes(sql) == expected
