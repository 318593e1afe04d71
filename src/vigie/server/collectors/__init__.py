"""Built-in collectors of the server: the host and PostgreSQL, under the standard exporters' names.

:func:`build_collectors` turns the ``vigie.collectors`` config section into prometheus-client
collectors for the server's own registry (see ``docs/infrastructure.md``).

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> for collector in build_collectors({"host": {"filesystems": ["/"]}}):
    ...     _ = registry.register(collector)
    >>> registry.get_sample_value("node_load1") is not None
    True
"""

from vigie.server.collectors.config import build_collectors
from vigie.server.collectors.host import HostCollector
from vigie.server.collectors.postgres import PostgresCollector, PostgresTarget

__all__ = ["HostCollector", "PostgresCollector", "PostgresTarget", "build_collectors"]
