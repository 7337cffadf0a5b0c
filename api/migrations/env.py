"""Alembic environment: migrations are plain SQL run on the owner connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
conninfo = config.attributes["conninfo"]

engine = create_engine(conninfo.sqlalchemy_url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
