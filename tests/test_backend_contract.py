"""One contract, every backend: the same story told against SQLite and PostgreSQL.

Snapshot, change the database, restore: the contents are the snapshot's again. A
payload that was garbled, or a manifest that disagrees with it, is caught by
verify_payload. Row counts are exact; a healthy database has no integrity problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import Engine, make_url

from safeguard.backends import Backend, Payload, backend_for
from safeguard.config import Settings
from safeguard.manifest import Snapshot

SCHEMA = (
    "CREATE TABLE owners (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)",
    "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners (id), "
    "name VARCHAR(40))",
    "CREATE INDEX ix_pets_owner ON pets (owner_id)",
    "INSERT INTO owners VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Edsger')",
    "INSERT INTO pets VALUES (1, 1, 'Rex'), (2, 1, 'Tom'), (3, 2, 'Bit'), (4, 3, 'Byte'), (5, 3, NULL)",
)
# What a migration that went wrong might have done.
MUTATIONS = (
    "INSERT INTO pets VALUES (6, 2, 'Nibble')",
    "DELETE FROM pets WHERE owner_id = 1",
    "UPDATE owners SET name = upper(name)",
    "CREATE TABLE scratch (n INTEGER)",
    "INSERT INTO scratch VALUES (1)",
)


@dataclass
class Subject:
    """A database of one engine, its backend, and a way to read it."""

    url: str
    backend: Backend
    engine: Engine
    missing_url: str
    settings: Settings

    def execute(self, *statements: str) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))

    def contents(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote_identifier
            return {table: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {quote(table)}"))), key=repr)
                    for table in sorted(inspect(conn).get_table_names())}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])
def subject(request, tmp_path) -> Subject:
    settings = Settings(config_file=tmp_path / "alembic.ini")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
        missing = f"sqlite:///{tmp_path / 'missing.db'}"
    elif request.param == "mysql":
        url = request.getfixturevalue("mysql_url")
        missing = make_url(url).set(database="no_such_database").render_as_string(hide_password=False)
    else:
        url = request.getfixturevalue("pg_url")
        missing = make_url(url).set(database="no_such_database").render_as_string(hide_password=False)
        bindir = request.getfixturevalue("pg_server").bindir
        settings = Settings(config_file=tmp_path / "alembic.ini", pg_bindir=bindir)
    # NullPool: a pooled connection left open would keep a PostgreSQL restore waiting.
    engine = create_engine(url, poolclass=pool.NullPool)
    found = Subject(url, backend_for(url, settings), engine, missing, settings)
    found.execute(*SCHEMA)
    yield found
    engine.dispose()


def manifest_of(payload: Payload, **changes: Any) -> Snapshot:
    """The manifest a store would write for this payload."""
    return Snapshot(**{"id": "contract", "created_at": "2026-01-01T00:00:00+00:00",
                       "reason": "contract", "engine": "-", "database": "-", "revisions": (),
                       "sha256": "-", "files": dict(payload.files), "size": payload.size,
                       "row_counts": dict(payload.row_counts), "extra": dict(payload.extra),
                       "compression": payload.compression,
                       "content_sha256": payload.content_sha256, **changes})


def take(subject: Subject, directory: Path) -> Payload:
    directory.mkdir()
    return subject.backend.snapshot(directory)


def test_snapshot_then_restore_brings_back_exactly_the_snapshot(subject, tmp_path):
    before = subject.contents()
    payload = take(subject, tmp_path / "snap")
    subject.execute(*MUTATIONS)
    assert subject.contents() != before

    subject.backend.restore(tmp_path / "snap", manifest_of(payload))

    assert subject.contents() == before  # and the table the "migration" made is gone
    assert subject.backend.row_counts() == payload.row_counts


def test_a_snapshot_can_be_restored_twice(subject, tmp_path):
    before = subject.contents()
    payload = take(subject, tmp_path / "snap")
    for _ in range(2):
        subject.execute(*MUTATIONS)
        subject.backend.restore(tmp_path / "snap", manifest_of(payload))
        assert subject.contents() == before


def test_payload_files_carry_their_checksums(subject, tmp_path):
    payload = take(subject, tmp_path / "snap")
    assert payload.files
    for name, digest in payload.files.items():
        assert digest == "blake3:" + blake3.blake3((tmp_path / "snap" / name).read_bytes()).hexdigest()
    assert payload.size > 0


def test_verify_payload_accepts_a_good_snapshot(subject, tmp_path):
    payload = take(subject, tmp_path / "snap")
    assert subject.backend.verify_payload(tmp_path / "snap", manifest_of(payload)) == []


@pytest.mark.parametrize("damage", ["garbled", "truncated"])
def test_verify_payload_finds_a_damaged_payload(subject, tmp_path, damage):
    payload = take(subject, tmp_path / "snap")
    if subject.backend.engine == "postgresql" and "template" in payload.extra.get("format", ""):
        pytest.skip("a template snapshot's payload is a database on the server")
    victim = max((tmp_path / "snap" / name for name in payload.files), key=lambda p: p.stat().st_size)
    data = victim.read_bytes()
    victim.write_bytes(b"\x5a" * 64 + data[64:] if damage == "garbled" else data[: len(data) // 2])

    problems = subject.backend.verify_payload(tmp_path / "snap", manifest_of(payload))

    assert problems, "a damaged payload passed verification"


def test_verify_payload_finds_counts_that_disagree_with_the_manifest(subject, tmp_path):
    payload = take(subject, tmp_path / "snap")
    tampered = manifest_of(payload, row_counts={**payload.row_counts, "pets": 999})

    problems = subject.backend.verify_payload(tmp_path / "snap", tampered)

    assert any("pets" in problem and "999" in problem for problem in problems), problems


def test_row_counts_are_exact(subject):
    assert subject.backend.row_counts() == {"owners": 3, "pets": 5}
    subject.execute("DELETE FROM pets WHERE name IS NULL")
    assert subject.backend.row_counts() == {"owners": 3, "pets": 4}


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "full"])
def test_a_healthy_database_has_no_integrity_problems(subject, quick):
    assert subject.backend.integrity_problems(quick=quick) == []


def test_identity_existence_and_the_session_lock(subject):
    backend = subject.backend
    password = make_url(subject.url).password
    assert backend.exists()
    assert not password or password not in backend.identity()
    assert backend.identity() == backend_for(subject.url, subject.settings).identity()  # stable
    assert backend.size() > 0
    assert not backend_for(subject.missing_url, subject.settings).exists()
    with backend.session_lock(0):
        pass
    with backend.session_lock(0):  # released: it can be taken again
        pass
