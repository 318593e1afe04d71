"""Alembic migrations of the demo's history database (see :mod:`vigie.demo.history`)."""

__all__: list[str] = []
