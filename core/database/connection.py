"""Database URL resolution and engine creation for the Poolula Platform."""

import logging
import os

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine

DEFAULT_DATABASE_URL = "sqlite:///./poolula.db"

logger = logging.getLogger(__name__)


def get_database_url() -> str:
    """Return the database URL from ``DATABASE_URL`` (default: ``./poolula.db``).

    Hosting platforms (Heroku, Render...) hand out ``postgres://`` URLs, a
    scheme SQLAlchemy 1.4+ no longer accepts, so it is rewritten to
    ``postgresql://``.  Every other URL is returned unchanged.
    """
    url = os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return url


def _enable_sqlite_foreign_keys(dbapi_connection, _connection_record) -> None:
    # SQLite ignores REFERENCES clauses unless this is switched on for each
    # new connection; the application relies on them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(url: str | None = None, **kwargs) -> Engine:
    """Create an engine for ``url`` (default: :func:`get_database_url`).

    On SQLite every connection gets ``PRAGMA foreign_keys=ON``.  Extra keyword
    arguments go to :func:`sqlalchemy.create_engine`.
    """
    engine = create_engine(url or get_database_url(), **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def check_connection(url: str | None = None) -> bool:
    """Connect, run a trivial query and count the properties.

    Returns True when all of that works.  Raises :class:`RuntimeError` with a
    readable message when the database cannot be reached or has not been
    migrated yet (no ``properties`` table).
    """
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
            if not inspect(conn).has_table("properties"):
                raise RuntimeError(
                    f"database {engine.url.render_as_string(hide_password=True)} has no "
                    "'properties' table; run `alembic upgrade head` first"
                )
            count = conn.execute(text("SELECT COUNT(*) FROM properties")).scalar_one()
    except RuntimeError:
        raise
    except Exception as exc:  # driver errors vary by backend; report them uniformly
        raise RuntimeError(
            f"cannot query database {engine.url.render_as_string(hide_password=True)}: {exc}"
        ) from exc
    finally:
        engine.dispose()
    logger.info("database OK: %d properties", count)
    return True
