"""No ini file, so no logging config and no sqlalchemy.url: the URL is DATABASE_URL
or the project's default."""
import logging
import os

from sqlalchemy import create_engine, pool

from alembic import context

logging.basicConfig(level=logging.WARNING)

url = os.environ.get("DATABASE_URL", "sqlite:///instance/inventory.db")
connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
