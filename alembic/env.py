"""Alembic environment for the Poolula Platform.

The database URL comes from ``core.database.connection.get_database_url()``
(the ``DATABASE_URL`` environment variable), so the application and its
migrations always agree on which database they talk to; ``sqlalchemy.url`` in
alembic.ini is only the documented default.
"""

from logging.config import fileConfig

from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import make_url

from alembic import context

# Importing the models registers every table on SQLModel.metadata.
import core.database.models  # noqa: F401
from core.database.connection import get_database_url
from sqlmodel import SQLModel

config = context.config

# A program driving Alembic through its command API can keep its own logging
# set up by passing Config(attributes={"configure_logger": False}).
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    # disable_existing_loggers=False: do not silence loggers created earlier.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _is_sqlite(url: str) -> bool:
    # SQLite cannot ALTER most things in place; batch mode recreates the table.
    return make_url(url).get_backend_name() == "sqlite"


def run_migrations_offline() -> None:
    """Emit the migration SQL as a script (``alembic upgrade --sql``)."""
    url = get_database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        render_as_batch=_is_sqlite(url),
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against a live connection."""
    section = dict(config.get_section(config.config_ini_section, {}))
    section["sqlalchemy.url"] = get_database_url()
    # A plain engine on purpose, not core.database.connection.get_engine():
    # batch migrations on SQLite drop and recreate tables, which must happen
    # with foreign-key enforcement off (SQLite's default) or dropping a
    # referenced table fails.
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)

    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=connection.dialect.name == "sqlite",
        )

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
