"""Connects to app.db for the first $SWITCH_AFTER runs of this file, then to other.db:
a stand-in for a URL that changes between safeguard reading the database and
migrating it (a settings file rewritten by a deploy, a symlink swapped meanwhile)."""
import os
from pathlib import Path

from sqlalchemy import create_engine, pool

from alembic import context

here = Path(context.config.config_file_name).resolve().parent
counter = here / "runs.txt"
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
name = "app.db" if runs <= int(os.environ.get("SWITCH_AFTER", "1000000")) else "other.db"

engine = create_engine(f"sqlite:///{here / name}", poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
