"""SQLModel models of the Poolula Platform property-management schema.

These classes describe the schema at the *head* of the Alembic chain in
``alembic/versions``; autogenerate compares the live database against
``SQLModel.metadata`` (re-exported here), so every column type, index and
constraint below must match what the migrations build.  Names are given
explicitly for indexes and foreign keys because PostgreSQL and SQLite would
otherwise invent different names, and batch migrations on SQLite can only
address constraints that have a name.
"""

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKeyConstraint, Index, Text
from sqlmodel import Field, SQLModel

__all__ = [
    "SQLModel",
    "Property",
    "Transaction",
    "Document",
    "Obligation",
    "AuditLog",
    "Tenant",
    "utcnow",
]


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)


def _updated_at() -> Any:
    # Bumped by the ORM on every UPDATE; rows written with Core keep what they set.
    return Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        nullable=False,
        sa_column_kwargs={"onupdate": utcnow},
    )


def _provenance() -> Any:
    # Where a row came from (import file, OCR job, manual entry...), free-form.
    return Field(default=None, sa_column=Column("provenance", JSON, nullable=True))


def _property_fk(table: str) -> tuple[ForeignKeyConstraint, Index]:
    """Named foreign key to properties.id plus the index that serves it."""
    return (
        ForeignKeyConstraint(
            ["property_id"], ["properties.id"], name=f"fk_{table}_property_id_properties"
        ),
        Index(f"ix_{table}_property_id", "property_id"),
    )


class Property(SQLModel, table=True):
    """A rental property owned or managed by the LLC."""

    __tablename__ = "properties"
    __table_args__ = (Index("ix_properties_status", "status"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    address: str = Field(max_length=255)
    city: str = Field(max_length=100)
    state: str = Field(max_length=2)
    zip_code: str = Field(max_length=10)
    # Was ``property_type`` until revision 5; stays TEXT as it was created.
    usage_type: str | None = Field(default=None, sa_type=Text)
    # Was free text until revision 6 converted it to an integer.
    year_built: int | None = Field(default=None)
    status: str = Field(default="active", max_length=20)
    zoning: str | None = Field(default=None, max_length=50)
    property_manager: str | None = Field(default=None, max_length=200)
    # Denormalised "address, city, state", backfilled by revision 8.
    full_address: str | None = Field(default=None, max_length=500)
    purchase_price: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    provenance: dict | None = _provenance()
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class Transaction(SQLModel, table=True):
    """A money movement (rent received, repair paid...) tied to a property."""

    __tablename__ = "transactions"
    __table_args__ = _property_fk("transactions")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    property_id: uuid.UUID
    transaction_date: date
    amount: Decimal = Field(max_digits=12, decimal_places=2)
    category: str = Field(max_length=50)
    description: str | None = Field(default=None, max_length=500)
    provenance: dict | None = _provenance()
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class Document(SQLModel, table=True):
    """A stored document (deed, lease, insurance policy...) about a property."""

    __tablename__ = "documents"
    __table_args__ = _property_fk("documents")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    property_id: uuid.UUID
    title: str = Field(max_length=200)
    doc_type: str = Field(max_length=50)
    file_path: str = Field(max_length=500)
    provenance: dict | None = _provenance()
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class Obligation(SQLModel, table=True):
    """A recurring or one-off duty: tax payment, insurance renewal, inspection."""

    __tablename__ = "obligations"
    __table_args__ = _property_fk("obligations")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    property_id: uuid.UUID
    obligation_type: str = Field(max_length=50)
    description: str | None = Field(default=None, max_length=500)
    due_date: date
    amount: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    status: str = Field(default="pending", max_length=20)
    provenance: dict | None = _provenance()
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class AuditLog(SQLModel, table=True):
    """One change to any record; append-only, hence no ``updated_at``."""

    __tablename__ = "audit_log"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Generic pointer (table + id) rather than a foreign key: it may name any table.
    table_name: str = Field(max_length=100)
    record_id: uuid.UUID
    action: str = Field(max_length=20)
    changes: dict | None = Field(default=None, sa_column=Column("changes", JSON, nullable=True))
    actor: str = Field(max_length=100)
    created_at: datetime = _created_at()


class Tenant(SQLModel, table=True):
    """A tenant holding a lease on a property (added by revision 4)."""

    __tablename__ = "tenants"
    __table_args__ = _property_fk("tenants")

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    property_id: uuid.UUID
    name: str = Field(max_length=200)
    email: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=30)
    lease_start: date
    lease_end: date | None = Field(default=None)
    monthly_rent: Decimal = Field(max_digits=10, decimal_places=2)
    provenance: dict | None = _provenance()
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()
