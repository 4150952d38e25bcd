"""The URL (with %(here)s already expanded by Alembic) from the [alembic] section."""
from sqlalchemy import engine_from_config, pool

from alembic import context

config = context.config


def run_migrations_online() -> None:
    """Migrate over one NullPool connection."""
    section = config.get_section(config.config_ini_section, {})
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
