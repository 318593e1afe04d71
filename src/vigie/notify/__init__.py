"""vigie.notify"""

__all__: list[str] = []
