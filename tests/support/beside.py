"""What a beside copy (restore --beside, diff) may leave behind, read from outside."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from safeguard.backends import backend_for
from safeguard.backends.beside import beside_copies


def leftovers(project: Any) -> list[str]:
    """Beside copies of any kind that exist for the project's database, in the engine
    or the store, and operations the journal left open."""
    backend = backend_for(project.url)
    root = project.store / "beside"
    found = beside_copies(backend, root).keys()
    found += [p.name for p in root.iterdir()] if root.is_dir() else []
    journal = project.store / "journal.jsonl"
    ops: dict[str, bool] = {}
    for line in journal.read_text().splitlines() if journal.exists() else ():
        entry = json.loads(line)
        if entry.get("event") == "begin":
            ops[entry["op"]] = False
        elif entry.get("event") == "end":
            ops[entry["op"]] = True
    return found + [f"unfinished {op}" for op, done in ops.items() if not done]


def contents(url: str) -> dict[str, list[tuple]]:
    """Every row of every table of the database at ``url``, sorted."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            return {t: sorted((tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {quote(t)}"))),
                              key=repr)
                    for t in sorted(sa.inspect(conn).get_table_names())}
    finally:
        engine.dispose()
