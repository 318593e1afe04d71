"""The part of vigie that runs inside the user's app: metrics, AI conventions, cost, logs, traces.

Everything here is framework-free; framework glue lives in :mod:`vigie.integrations`.
"""

__all__: list[str] = []
