"""Thin adapters between vigie's SDK and frameworks or clients; each imports its library lazily."""

__all__: list[str] = []
