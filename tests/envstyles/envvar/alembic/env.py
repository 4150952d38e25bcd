"""The URL from the deployment's environment (twelve-factor style); the ini's
sqlalchemy.url is ignored."""
import os

from sqlalchemy import create_engine, pool

from alembic import context


def database_url() -> str:
    """APP_DB_URL, or fail loudly: migrating a default database by accident is worse."""
    try:
        return os.environ["APP_DB_URL"]
    except KeyError:
        raise SystemExit("APP_DB_URL is not set") from None


engine = create_engine(database_url(), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
