"""vigie.telemetry"""

__all__: list[str] = []
