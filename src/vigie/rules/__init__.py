"""vigie.rules"""

__all__: list[str] = []
