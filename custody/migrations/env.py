"""Alembic environment: runs on the connection custody.db.migrate() hands over."""

from __future__ import annotations

from alembic import context

from custody.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through custody (custody init / custody serve)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
