"""``vigie.query``: the limits of PromQL evaluation through the HTTP API, and the queue before it.

Prometheus sets these with flags (``--query.timeout``, ``--query.max-samples``,
``--query.lookback-delta``, ``--query.max-concurrency``); vigie reads them from its configuration
file so that a reload (``SIGHUP`` or ``POST /-/reload``) changes them without a restart:

.. code-block:: yaml

    vigie:
      query:
        timeout: 2m              # a request's ``timeout`` parameter can only lower it
        max_samples: 50000000    # samples one query may hold in memory at once
        lookback_delta: 5m       # how far back an instant selector looks for a sample
        max_concurrency: 4       # queries at once (default: the CPU count); the others wait

As in Prometheus's active query tracker, a query beyond ``max_concurrency`` *waits* for a free
slot; the wait counts against its timeout, and a query still queued when its timeout passes is
answered ``503 {"errorType": "timeout", "error": "query timed out in query queue"}``.

Example::

    >>> gate = QueryGate()
    >>> import asyncio
    >>> async def one() -> int:
    ...     await gate.acquire(limit=1, timeout_s=1.0)
    ...     busy = gate.active
    ...     await gate.release()
    ...     return busy
    >>> asyncio.run(one())
    1
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

    from vigie.server.config import _Reader

__all__ = [
    "QUEUE_TIMEOUT",
    "QueryGate",
    "QuerySettings",
    "default_max_concurrency",
    "query_settings",
]

#: The error of a query whose timeout passed while it waited for a slot (Prometheus's wording).
QUEUE_TIMEOUT = "query timed out in query queue"


@dataclass(frozen=True)
class QuerySettings:
    """``vigie.query``: Prometheus's ``--query.*`` flags, with Prometheus's defaults except
    ``max_concurrency``: the number of CPUs (at least 2) instead of 20, since one Python process
    evaluates one query per core at best and extra concurrent queries only hold memory and
    threads that scrapes need (measured in docs/reliability.md)."""

    timeout_ms: int = 120_000
    max_samples: int = 50_000_000
    lookback_delta_ms: int = 300_000
    max_concurrency: int = field(default_factory=lambda: default_max_concurrency())


def default_max_concurrency() -> int:
    """The default ``vigie.query.max_concurrency``: the CPU count, at least 2.

    >>> default_max_concurrency() >= 2
    True
    """
    return max(2, os.cpu_count() or 2)


def query_settings(reader: _Reader, node: yaml.Node, field: str) -> QuerySettings:
    """Read ``vigie.query``, errors located as ``file:line: vigie.query.FIELD: reason``."""
    keys = {"timeout", "max_samples", "lookback_delta", "max_concurrency"}
    parts = reader.fields(node, field, keys)
    changes: dict[str, Any] = {}
    for key in ("timeout", "lookback_delta"):
        if key in parts:
            changes[f"{key}_ms"] = reader.positive_duration(*parts[key])
    for key in ("max_samples", "max_concurrency"):
        if key in parts:
            value_node, name = parts[key]
            text = reader.scalar(value_node, name)
            if value_node.tag != "tag:yaml.org,2002:int" or int(text) < 1:
                raise reader.fail(value_node, name, f"expected a positive integer, got {text!r}")
            changes[key] = int(text)
    return QuerySettings(**changes)


class QueryGate:
    """At most ``limit`` queries at once; the others wait (each up to its
    deadline). The limit is given at each :meth:`acquire`, so a reload applies to the next query.
    """

    def __init__(self) -> None:
        self.active = 0
        self._condition: asyncio.Condition | None = None

    def _ready(self) -> asyncio.Condition:
        # Created on first use: the condition belongs to the event loop that serves the app.
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    async def acquire(self, *, limit: int, timeout_s: float) -> None:
        """Take a slot, waiting at most ``timeout_s`` seconds; raises ``TimeoutError``."""
        condition = self._ready()
        async with condition:
            if self.active >= limit:
                await asyncio.wait_for(
                    condition.wait_for(lambda: self.active < limit), max(timeout_s, 0.0)
                )
            self.active += 1

    async def release(self) -> None:
        """Give the slot back and wake the waiting queries."""
        condition = self._ready()
        async with condition:
            self.active -= 1
            condition.notify_all()
