"""Getting lost data back without rewinding the database, on every engine: a deploy
drops a column (legacy_owner_notes, the example chain's last revision) and a table
(audit_log, a revision of the test's own); later writes add, change and delete rows.
`diff` names the column, the table and each row difference; `restore --beside` brings
the snapshot back next to the live data; the statements it prints, run as printed,
restore the dropped values while every later write survives, checked row by row.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import CHAIN, HEAD, ProjectDir
from support.beside import leftovers

from safeguard.config import load_settings
from safeguard.operations.diff import what_restore_discards

BEFORE = CHAIN[-2]  # the revision before the one that drops legacy_owner_notes
DROPS_TABLE = "op.drop_table('audit_log')"
ENGINES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]
FIXTURES = {"sqlite": "seeded", "postgresql": "pg_seeded", "mysql": "mysql_seeded"}


def key_text(value: Any) -> str:
    """A UUID key as every engine's driver returns it, in one spelling."""
    return str(value).replace("-", "").lower()


@dataclass
class Deployed:
    """The project after the destructive deploy and the writes that followed."""

    project: ProjectDir
    snapshot: str
    notes: dict[str, Any]  # property id -> legacy_owner_notes, before the deploy
    audit: list[tuple]  # audit_log's rows, before the deploy
    inserted: str  # a property created after the deploy
    changed: str  # a property whose city changed after the deploy
    deleted: str  # an obligation deleted after the deploy

    @property
    def engine(self) -> sa.Engine:
        return sa.create_engine(self.project.url, poolclass=sa.pool.NullPool)

    def rows(self, query: str) -> list[tuple]:
        engine = self.engine
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(query))]
        finally:
            engine.dispose()


@pytest.fixture(params=ENGINES)
def deployed(request) -> Deployed:
    project = request.getfixturevalue(FIXTURES[request.param])
    project.cli("upgrade", BEFORE, "--policy", "never")
    project.add_revision("d1a2b3c4e5f6", HEAD, DROPS_TABLE, doc="drop audit_log")
    project.configure(metadata="")  # the models still have audit_log
    engine = sa.create_engine(project.url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        notes = {key_text(i): n for i, n in conn.execute(
            sa.text("SELECT id, legacy_owner_notes FROM properties"))}
        audit = sorted(tuple(r) for r in conn.execute(sa.text("SELECT * FROM audit_log")))
    assert any(notes.values()) and audit
    project.cli("upgrade", "head")
    taken = json.loads(project.cli("--json", "snapshot", "list").stdout)["snapshots"]
    snapshot = taken[-1]["id"]
    # Later writes: a property added, another changed, an obligation deleted.
    with engine.begin() as conn:
        some = conn.execute(sa.text("SELECT id FROM properties ORDER BY id")).fetchall()
        changed = some[0][0]
        conn.execute(sa.text("UPDATE properties SET city = 'Changed since' WHERE id = :i"), {"i": changed})
        columns = [c["name"] for c in sa.inspect(conn).get_columns("properties")]
        new_id = uuid.uuid4()
        picked = ", ".join({"id": ":new", "name": "'Added since'"}.get(c, c) for c in columns)
        conn.execute(sa.text(f"INSERT INTO properties ({', '.join(columns)}) "
                             f"SELECT {picked} FROM properties WHERE id = :source"),
                     {"new": new_id.hex if project.url.startswith(("sqlite", "mysql")) else new_id,
                      "source": some[1][0]})
        deleted = conn.execute(sa.text("SELECT id FROM obligations ORDER BY id")).fetchall()[0][0]
        conn.execute(sa.text("DELETE FROM obligations WHERE id = :i"), {"i": deleted})
    engine.dispose()
    return Deployed(project, snapshot, notes, audit, key_text(new_id), key_text(changed),
                    key_text(deleted))


def test_diff_names_the_column_the_table_and_each_row(deployed):
    found = json.loads(deployed.project.cli("--json", "diff", deployed.snapshot, "--rows").stdout)
    tables = {t["table"]: t for t in found["tables"]}
    assert tables["audit_log"]["status"] == "gone"
    assert tables["audit_log"]["snapshot_rows"] == len(deployed.audit)
    properties = tables["properties"]
    assert list(properties["columns_gone"]) == ["legacy_owner_notes"]
    assert properties["columns_added"] == [] and properties["columns_retyped"] == []
    assert properties["live_rows"] == properties["snapshot_rows"] + 1
    assert (properties["only_live"], properties["changed"], properties["only_in_snapshot"]) == (1, 1, 0)
    assert [key_text(k[0]) for k in properties["keys_only_live"]] == [deployed.inserted]
    assert [key_text(k[0]) for k in properties["keys_changed"]] == [deployed.changed]
    obligations = tables["obligations"]
    assert (obligations["only_live"], obligations["changed"], obligations["only_in_snapshot"]) == (0, 0, 1)
    assert [key_text(k[0]) for k in obligations["keys_only_in_snapshot"]] == [deployed.deleted]
    untouched = [t for name, t in tables.items() if name not in ("audit_log", "properties", "obligations")]
    assert untouched and all(t["written"] == 0 and not t["columns_gone"] for t in untouched)
    # The diff's own copy is gone, and its operation closed.
    assert leftovers(deployed.project) == []
    human = deployed.project.cli("diff", deployed.snapshot).stdout
    assert "column legacy_owner_notes" in human and "audit_log: gone" in human


def test_statements_printed_by_beside_bring_the_data_back_and_keep_later_writes(deployed):
    project = deployed.project
    made = json.loads(project.cli("--json", "restore", deployed.snapshot, "--beside").stdout)
    statements = [made["beside"]["attach"]] if made["beside"]["attach"] else []
    by_table = {s["table"]: s for s in made["statements"]}
    assert set(by_table) >= {"properties", "audit_log", "obligations"}
    assert by_table["obligations"]["restore"] == []  # nothing of it was lost but rows
    statements += by_table["properties"]["restore"] + by_table["audit_log"]["restore"]
    listed = json.loads(project.cli("--json", "snapshot", "list").stdout)["beside"]
    assert [c["snapshot"] for c in listed] == [deployed.snapshot]

    engine = deployed.engine
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement.rstrip(";"))
        # The join statement reads both sides.
        joined = conn.exec_driver_sql(by_table["properties"]["read"].rstrip(";")).fetchall()
        assert len(joined) == len(deployed.notes)
    engine.dispose()

    notes = {key_text(i): n for i, n in deployed.rows("SELECT id, legacy_owner_notes FROM properties")}
    assert {k: v for k, v in notes.items() if k != deployed.inserted} == deployed.notes
    assert notes[deployed.inserted] is None  # it never had notes
    cities = {key_text(i): c for i, c in deployed.rows("SELECT id, city FROM properties")}
    assert cities[deployed.changed] == "Changed since"  # the later write survived
    assert deployed.deleted not in {key_text(i) for (i,) in deployed.rows("SELECT id FROM obligations")}
    assert sorted(deployed.rows("SELECT * FROM audit_log")) == deployed.audit

    project.cli("restore", deployed.snapshot, "--drop-beside")
    assert leftovers(project) == []
    assert json.loads(project.cli("--json", "snapshot", "list").stdout)["beside"] == []


def test_restore_says_what_it_would_discard_and_suggests_beside(deployed):
    done = deployed.project.cli("--json", "restore", deployed.snapshot, "--dry-run")
    discards = json.loads(done.stdout)["discards"]
    assert discards["exact"] and discards["newer_writes"]
    lost = {t["table"]: t for t in discards["tables"]}
    assert (lost["properties"]["inserted"], lost["properties"]["changed"],
            lost["properties"]["deleted"]) == (1, 1, 0)
    assert lost["obligations"]["deleted"] == 1
    assert set(lost) == {"properties", "obligations"}
    refused = deployed.project.cli("restore", deployed.snapshot, expect=2)
    assert "properties: 2 rows written since (1 inserted, 1 changed, 0 deleted)" in refused.stderr
    assert f"safeguard restore {deployed.snapshot} --beside" in refused.stderr
    assert leftovers(deployed.project) == []



def test_above_the_exact_limit_the_discards_are_labelled_estimates(deployed, monkeypatch):
    monkeypatch.chdir(deployed.project.root)
    settings = load_settings(str(deployed.project.ini), url=deployed.project.url)
    found = what_restore_discards(settings, deployed.snapshot, exact_limit=0)
    assert not found.exact
    # Net row-count changes: the changed property does not show, as the label says.
    assert {t.table: t.rows for t in found.tables} == {"properties": 1, "obligations": 1}
    text = "\n".join(found.lines())
    assert "ESTIMATES" in text and f"safeguard restore {deployed.snapshot} --beside" in text
    assert leftovers(deployed.project) == []
