"""Online only, an Engine made from sqlalchemy.url with create_engine()."""
from sqlalchemy import create_engine

from alembic import context

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"))

with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
