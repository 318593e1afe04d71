"""vigie.stack"""

__all__: list[str] = []
