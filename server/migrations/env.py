"""Alembic environment: migrations run on a connection the store hands over.

``Store.open`` opens a transaction (taking the SQLite write lock, or a PostgreSQL advisory lock, so
two processes opening the same database migrate one after the other), passes the connection in
``config.attributes["connection"]`` and calls ``alembic.command.upgrade(config, "head")``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from server.store._schema import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "migrations run through server.store.Store.open, which passes a connection"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
