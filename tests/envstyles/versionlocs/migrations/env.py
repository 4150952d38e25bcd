"""A plain online env.py; the interesting part is version_locations in the ini."""
from sqlalchemy import engine_from_config, pool

from alembic import context

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.begin() as connection:
    context.configure(connection=connection)
    context.run_migrations()
