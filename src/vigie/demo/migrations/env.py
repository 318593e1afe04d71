"""Alembic environment of the demo's history database.

The demo runs Alembic from Python (:mod:`vigie.demo.history`): the connection arrives in
``config.attributes["connection"]``, so there is no ``alembic.ini`` and no URL here. Offline mode
(SQL scripts) is not used by the demo.
"""

from __future__ import annotations

from alembic import context

from vigie.demo.history import METADATA

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic path is supported
    raise RuntimeError("the demo migrations run through vigie.demo.history.migrate()")
context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
