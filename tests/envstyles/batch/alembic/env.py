"""render_as_batch=True, so autogenerate writes batch_alter_table() for SQLite."""
from sqlalchemy import engine_from_config, pool

from alembic import context

config = context.config
target_metadata = None

connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
