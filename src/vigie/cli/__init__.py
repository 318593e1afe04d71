"""vigie.cli"""

__all__: list[str] = []
