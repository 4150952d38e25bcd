"""The URL comes from the application's settings module and is written into the
config, as Flask and FastAPI projects commonly do."""
from sqlalchemy import engine_from_config, pool

from alembic import context
from myapp.settings import get_settings

config = context.config
config.set_main_option("sqlalchemy.url", get_settings().database_url)

connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
