"""vigie.query"""

__all__: list[str] = []
