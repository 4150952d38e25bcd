"""Use the connection a caller put in config.attributes["connection"]; make an
Engine only when there is none (the command line)."""
from sqlalchemy import engine_from_config, pool

from alembic import context

config = context.config


def do_run_migrations(connection) -> None:
    """Configure and migrate on ``connection``."""
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Borrow the caller's connection, or open one of our own."""
    connectable = config.attributes.get("connection", None)
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with connectable.connect() as connection:
            do_run_migrations(connection)
    else:
        do_run_migrations(connectable)


run_migrations_online()
