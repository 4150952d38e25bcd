"""Fill a Poolula Platform database with realistic demo rows.

Usage (from the repository root)::

    python scripts/seed_database.py [--rows N] [--seed S]

The database is the one ``DATABASE_URL`` names (default ``./poolula.db``).
``--rows N`` creates N properties and about 10 transactions, 2 documents,
3 obligations, 2 audit entries and 1.5 tenants per property.

The seeder works at *any* revision of the Alembic chain, not only at head: it
reflects the live schema and fills the columns that exist right now
(``property_type`` or ``usage_type``, ``year_built`` as text or integer,
``legacy_owner_notes``, ``full_address``, the ``tenants`` table...).  The demo
seeds an early revision and then upgrades, so every data migration in the
chain has real rows to move.

Values come from one ``random.Random(seed)`` and are drawn the same way at
every revision, so a given seed always produces the same rows.
"""

import argparse
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Run as `python scripts/seed_database.py`: make the repository root importable.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from core.database.connection import get_engine  # noqa: E402 - after the sys.path line above

DEFAULT_ROWS = 300
DEFAULT_SEED = 1987
CHUNK_SIZE = 5_000  # rows per executemany batch: bounded memory, few round trips

# Rows per property for each child table.
TRANSACTIONS_PER_PROPERTY = 10
DOCUMENTS_PER_PROPERTY = 2
OBLIGATIONS_PER_PROPERTY = 3
AUDIT_ENTRIES_PER_PROPERTY = 2
TENANTS_PER_PROPERTY = 1.5
AUDITED_IDS_PER_TABLE = 1_000  # child rows that audit entries may point at

# Tables in insertion order (parents first); tenants only from revision 4 on.
SEEDED_TABLES = ("properties", "transactions", "documents", "obligations", "audit_log", "tenants")

# Reflection reports sa.Uuid columns as CHAR(32) on SQLite; binding through
# sa.Uuid stores the same 32-hex format the application reads back.
UUID_COLUMNS = frozenset({"id", "property_id", "record_id"})
#: The example schema's JSON columns (sa.JSON in the revisions).
JSON_COLUMNS = frozenset({"provenance", "changes"})

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)  # fixed, for reproducible rows

CITIES = [
    ("Austin", "TX", "787"), ("Denver", "CO", "802"), ("Portland", "OR", "972"),
    ("Raleigh", "NC", "276"), ("Phoenix", "AZ", "850"), ("Columbus", "OH", "432"),
    ("Tampa", "FL", "336"), ("Boise", "ID", "837"), ("Madison", "WI", "537"),
]
STREETS = ["Oak", "Maple", "Cedar", "Pine", "Elm", "Willow", "Birch", "Aspen", "Juniper", "Magnolia"]
STREET_KINDS = ["St", "Ave", "Blvd", "Ln", "Dr", "Ct", "Way"]
PLACE_NAMES = ["Court", "Commons", "Place", "Terrace", "Villas", "House", "Lofts", "Cottage"]
USAGE_TYPES = ["single_family", "multi_family", "condo", "townhouse", "duplex", "commercial", "mixed_use"]
STATUSES = ["active"] * 7 + ["inactive", "under_renovation", "sold"]
ZONINGS = ["R-1", "R-2", "R-3", "C-1", "MU-1", None]
MANAGERS = ["Emma Ruiz", "Harbor Property Group", "Dale Okafor", "Summit Management LLC", None, None]
OWNER_NOTES = ["Owner prefers contact by phone.", "Spare keys with neighbour at #4.",
               "Inherited 2009; see old deed box.", None, None, None]
SOURCES = ["manual_entry", "csv_import", "bank_feed", "ocr"]
CATEGORIES = {  # category -> (min, max) amount in dollars; income positive
    "rent": (900, 4200), "repairs": (-2500, -60), "utilities": (-400, -40),
    "insurance": (-1800, -300), "property_tax": (-6000, -800), "hoa_fees": (-450, -120),
    "management_fee": (-500, -80), "mortgage_interest": (-2200, -400),
}
DOC_TYPES = ["lease", "deed", "insurance_policy", "inspection_report", "tax_statement", "receipt"]
OBLIGATION_TYPES = ["property_tax", "insurance_renewal", "hoa_dues", "inspection", "license_renewal"]
OBLIGATION_STATUSES = ["pending", "pending", "paid", "overdue"]
AUDIT_ACTIONS = ["create", "update", "update", "delete"]
ACTORS = ["system", "import-bot", "emma@poolula.example", "dale@poolula.example"]
FIRST_NAMES = ["Ava", "Liam", "Noah", "Mia", "Zoe", "Omar", "Lena", "Ravi", "Iris", "Theo", "Nina", "Jonah"]
LAST_NAMES = ["Garcia", "Nguyen", "Smith", "Patel", "Kowalski", "Okafor", "Berg", "Moreau", "Tanaka"]


class NotMigratedError(RuntimeError):
    """The database has no ``properties`` table: it was never migrated."""


# ---------------------------------------------------------------- value helpers

def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)).scaleb(-2)


def _day(rng: random.Random, start: date, span_days: int) -> date:
    return start + timedelta(days=rng.randrange(span_days))


def _timestamps(rng: random.Random) -> tuple[datetime, datetime]:
    created = NOW - timedelta(seconds=rng.randrange(3 * 365 * 86_400))
    return created, created + timedelta(seconds=rng.randrange(30 * 86_400))


def _provenance(rng: random.Random) -> dict:
    return {"source": rng.choice(SOURCES), "seeded_by": "scripts/seed_database.py"}


def _year_text(rng: random.Random) -> str | None:
    """Year built as the early schema stored it: mostly '1987', a few blanks and NULLs."""
    roll = rng.random()
    if roll < 0.04:
        return ""
    if roll < 0.08:
        return None
    return str(rng.randint(1905, 2023))


# ---------------------------------------------------------------- row generators
# Each generator yields every column any revision has ever had; rows are later
# trimmed to the live table's columns.  Drawing the same values at every
# revision keeps a seed's rows identical whatever the schema looks like.

def property_rows(rng: random.Random, count: int, year_is_integer: bool) -> Iterator[dict]:
    """Yield ``count`` properties; ``year_is_integer`` follows revision 6's type change."""
    for n in range(1, count + 1):
        city, state, zip_prefix = rng.choice(CITIES)
        address = f"{rng.randint(10, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"
        usage = rng.choice(USAGE_TYPES)
        year = _year_text(rng)
        created, updated = _timestamps(rng)
        yield {
            "id": _uuid(rng),
            "name": f"{rng.choice(STREETS)} {rng.choice(PLACE_NAMES)} #{n}",
            "address": address,
            "city": city,
            "state": state,
            "zip_code": f"{zip_prefix}{rng.randint(0, 99):02d}",
            "property_type": usage,  # name before revision 5
            "usage_type": usage,  # name from revision 5 on
            "year_built": (int(year) if year else None) if year_is_integer else year,
            "status": rng.choice(STATUSES),
            "zoning": rng.choice(ZONINGS),
            "property_manager": rng.choice(MANAGERS),
            "full_address": f"{address}, {city}, {state}",
            "purchase_price": _money(rng, 85_000, 1_400_000),
            "legacy_owner_notes": rng.choice(OWNER_NOTES),
            "provenance": _provenance(rng),
            "created_at": created,
            "updated_at": updated,
        }


def transaction_rows(rng: random.Random, property_ids: list, count: int) -> Iterator[dict]:
    """Yield ``count`` income/expense transactions spread over the properties."""
    for _ in range(count):
        category = rng.choice(list(CATEGORIES))
        created, updated = _timestamps(rng)
        yield {
            "id": _uuid(rng),
            "property_id": rng.choice(property_ids),
            "transaction_date": _day(rng, date(2022, 1, 1), 3 * 365),
            "amount": _money(rng, *CATEGORIES[category]),
            "category": category,
            "description": f"{category.replace('_', ' ').capitalize()} #{rng.randint(1000, 99999)}",
            "provenance": _provenance(rng),
            "created_at": created,
            "updated_at": updated,
        }


def document_rows(rng: random.Random, property_ids: list, count: int) -> Iterator[dict]:
    """Yield ``count`` document records (the files themselves are not created)."""
    for n in range(count):
        property_id = rng.choice(property_ids)
        doc_type = rng.choice(DOC_TYPES)
        year = rng.randint(2015, 2025)
        created, updated = _timestamps(rng)
        yield {
            "id": _uuid(rng),
            "property_id": property_id,
            "title": f"{doc_type.replace('_', ' ').title()} {year}",
            "doc_type": doc_type,
            "file_path": f"documents/{property_id.hex[:8]}/{doc_type}_{year}_{n}.pdf",
            "provenance": _provenance(rng),
            "created_at": created,
            "updated_at": updated,
        }


def obligation_rows(rng: random.Random, property_ids: list, count: int) -> Iterator[dict]:
    """Yield ``count`` obligations (taxes, renewals, inspections)."""
    for _ in range(count):
        kind = rng.choice(OBLIGATION_TYPES)
        created, updated = _timestamps(rng)
        yield {
            "id": _uuid(rng),
            "property_id": rng.choice(property_ids),
            "obligation_type": kind,
            "description": f"{kind.replace('_', ' ').capitalize()} due",
            "due_date": _day(rng, date(2024, 1, 1), 2 * 365),
            "amount": _money(rng, 50, 9000) if rng.random() < 0.8 else None,
            "status": rng.choice(OBLIGATION_STATUSES),
            "provenance": _provenance(rng),
            "created_at": created,
            "updated_at": updated,
        }


def audit_rows(rng: random.Random, records: dict[str, list], count: int) -> Iterator[dict]:
    """Yield ``count`` audit entries pointing at rows of the tables in ``records``."""
    tables = sorted(records)
    for _ in range(count):
        table = rng.choice(tables)
        action = rng.choice(AUDIT_ACTIONS)
        yield {
            "id": _uuid(rng),
            "table_name": table,
            "record_id": rng.choice(records[table]),
            "action": action,
            "changes": {"field": "status", "old": "pending", "new": "paid"} if action == "update" else None,
            "actor": rng.choice(ACTORS),
            "created_at": _timestamps(rng)[0],
        }


def tenant_rows(rng: random.Random, property_ids: list, count: int) -> Iterator[dict]:
    """Yield ``count`` tenants with leases on the properties."""
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        lease_start = _day(rng, date(2021, 1, 1), 4 * 365)
        created, updated = _timestamps(rng)
        yield {
            "id": _uuid(rng),
            "property_id": rng.choice(property_ids),
            "name": f"{first} {last}",
            "email": f"{first}.{last}{n}@example.com".lower(),
            "phone": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}" if rng.random() < 0.9 else None,
            "lease_start": lease_start,
            "lease_end": lease_start + timedelta(days=365) if rng.random() < 0.7 else None,
            "monthly_rent": _money(rng, 850, 4200),
            "provenance": _provenance(rng),
            "created_at": created,
            "updated_at": updated,
        }


# ---------------------------------------------------------------- inserting

def _bind_type(column: sa.Column) -> sa.types.TypeEngine:
    """The type to bind a column's values through: its reflected type, except UUIDs
    (see UUID_COLUMNS) and JSON columns, which MariaDB reflects as LONGTEXT."""
    if column.name in UUID_COLUMNS:
        return sa.Uuid()
    if column.name in JSON_COLUMNS:
        return sa.JSON()
    return column.type


def _insert(conn: Connection, table: sa.Table, rows: Iterator[dict], keep_ids: int) -> tuple[int, list]:
    """Insert ``rows`` in executemany batches, keeping only the live columns.

    Returns the number of rows inserted and the ids of the first ``keep_ids``
    of them, for other tables to point at (bounded so ``--rows 100000`` does
    not hold a million UUIDs in memory).
    """
    # Bind through the reflected types (see _bind_type).
    target = sa.table(
        table.name,
        *(sa.column(c.name, _bind_type(c)) for c in table.columns),
    )
    live = set(table.columns.keys())
    count, ids, batch = 0, [], []
    for row in rows:
        batch.append({key: value for key, value in row.items() if key in live})
        if len(ids) < keep_ids:
            ids.append(row["id"])
        if len(batch) >= CHUNK_SIZE:
            conn.execute(target.insert(), batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(target.insert(), batch)
        count += len(batch)
    return count, ids


def seed_database(engine: sa.Engine, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Seed the database behind ``engine`` at whatever revision it is.

    Returns ``{table: rows inserted}`` (tables missing at this revision are
    left out).  Raises :class:`NotMigratedError` when there is no
    ``properties`` table (or, for SQLite, no database file), and
    :class:`ValueError` when properties already has rows: a given seed always
    produces the same ids, so seeding twice would collide.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # Connecting would silently create an empty file; say what is wrong instead.
        if not Path(url.database).exists():
            raise NotMigratedError(f"database file {url.database} does not exist; run `alembic upgrade` first")
    rng = random.Random(seed)
    with engine.begin() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        if "properties" not in meta.tables:
            raise NotMigratedError(
                f"database {engine.url.render_as_string(hide_password=True)} has no 'properties' "
                "table; run `alembic upgrade` first"
            )
        tables = meta.tables
        existing = conn.execute(sa.select(sa.func.count()).select_from(tables["properties"])).scalar_one()
        if existing:
            raise ValueError(f"properties already holds {existing} rows; seed an empty database")

        year_is_integer = isinstance(tables["properties"].c.year_built.type, sa.Integer)
        counts: dict[str, int] = {}
        counts["properties"], property_ids = _insert(
            conn, tables["properties"], property_rows(rng, rows, year_is_integer), keep_ids=rows
        )

        children: list[tuple[str, Callable[..., Iterator[dict]], float]] = [
            ("transactions", transaction_rows, TRANSACTIONS_PER_PROPERTY),
            ("documents", document_rows, DOCUMENTS_PER_PROPERTY),
            ("obligations", obligation_rows, OBLIGATIONS_PER_PROPERTY),
        ]
        audited = {"properties": property_ids}  # what audit entries may point at
        for name, generate, per_property in children:
            rows_wanted = int(rows * per_property)
            counts[name], audited[name] = _insert(
                conn, tables[name], generate(rng, property_ids, rows_wanted), keep_ids=AUDITED_IDS_PER_TABLE
            )

        counts["audit_log"], _ = _insert(
            conn, tables["audit_log"], audit_rows(rng, audited, int(rows * AUDIT_ENTRIES_PER_PROPERTY)), keep_ids=0
        )

        # Last, so the draws above are the same whether or not tenants exist yet.
        if "tenants" in tables:
            counts["tenants"], _ = _insert(
                conn, tables["tenants"], tenant_rows(rng, property_ids, int(rows * TENANTS_PER_PROPERTY)), keep_ids=0
            )
    return counts


# ---------------------------------------------------------------- command line

def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description="Fill the DATABASE_URL database with demo rows.")
    parser.add_argument("--rows", type=_positive_int, default=DEFAULT_ROWS,
                        help=f"number of properties (default {DEFAULT_ROWS}); other tables scale with it")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed, for reproducible data (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)

    engine = get_engine()
    try:
        counts = seed_database(engine, rows=args.rows, seed=args.seed)
    except (NotMigratedError, ValueError) as exc:
        print(f"seed_database: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for table in SEEDED_TABLES:
        if table in counts:
            print(f"{table:<13} {counts[table]:>8} rows")
        else:
            print(f"{table:<13}        - (table not present at this revision)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
