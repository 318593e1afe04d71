"""vigie.quality"""

__all__: list[str] = []
