"""Reads sqlalchemy.url as the stock env.py does; the caller must have set it."""
from sqlalchemy import engine_from_config, pool

from alembic import context

config = context.config

if not config.get_main_option("sqlalchemy.url"):
    raise RuntimeError("sqlalchemy.url is empty: set it before running migrations")

engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
