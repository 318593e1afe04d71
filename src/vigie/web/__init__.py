"""UI templates and static assets, served by :mod:`vigie.server`."""

__all__: list[str] = []
