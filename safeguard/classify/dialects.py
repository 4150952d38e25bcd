"""Dialect names: SQLAlchemy's spelling in, sqlglot's spelling out."""

from __future__ import annotations

_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "pgsql": "postgresql", "sqlite3": "sqlite"}
_SQLGLOT = {"postgresql": "postgres", "mssql": "tsql", "mariadb": "mysql"}
_SQLGLOT_KNOWN = frozenset({"postgres", "sqlite", "mysql", "tsql", "oracle", "duckdb", "snowflake", "bigquery"})

def normalise(dialect: str | None) -> str | None:
    """SQLAlchemy's name for ``dialect`` (``postgres`` -> ``postgresql``); None stays None.

    A URL-style name with a driver (``postgresql+psycopg``) keeps only the dialect.
    """
    if dialect is None:
        return None
    name = dialect.strip().lower().split("+", 1)[0]
    return _ALIASES.get(name, name) or None


def sqlglot_name(dialect: str | None) -> str | None:
    """sqlglot's name for a SQLAlchemy dialect name; None when sqlglot has no such dialect."""
    if dialect is None:
        return None
    name = _SQLGLOT.get(dialect, dialect)
    return name if name in _SQLGLOT_KNOWN else None
