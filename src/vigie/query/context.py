"""What one evaluation carries through the tree: the steps, the querier, the limits.

A subquery evaluates its inner expression with its own steps (:meth:`Context.at_steps`) but
shares the querier, the deadline, the sample budget and the annotations of the whole query.

Example::

    >>> import numpy as np
    >>> from vigie.store.memory import MemoryStorage
    >>> context = Context.create(MemoryStorage().querier(), "up", 0, 60_000, 30_000)
    >>> context.times.tolist()
    [0, 30000, 60000]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from vigie.exceptions import QueryLimitError, QueryTimeoutError
from vigie.query.annotations import Annotations
from vigie.query.values import Ints
from vigie.store.interface import Querier

__all__ = ["Budget", "Context"]


@dataclass
class Budget:
    """Samples loaded so far against the limit, and the deadline."""

    max_samples: int
    deadline: float
    loaded: int = 0

    def charge(self, samples: int) -> None:
        """Count ``samples`` more loaded; raise QueryLimitError past the limit."""
        self.loaded += samples
        if self.loaded > self.max_samples:
            raise QueryLimitError(
                f"query processing would load too many samples into memory "
                f"(more than {self.max_samples})"
            )

    def check_time(self) -> None:
        """Raise QueryTimeoutError when the deadline has passed."""
        if time.monotonic() > self.deadline:
            raise QueryTimeoutError("query timed out in expression evaluation")


@dataclass
class Context:
    """One level of evaluation: ``times`` are the steps (int ms) expressions are evaluated at."""

    querier: Querier
    times: Ints
    interval_ms: int
    query_start: int
    query_end: int
    lookback_ms: int
    budget: Budget
    annotations: Annotations
    is_range_query: bool = False
    subquery_default_step_ms: int = 60_000
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        querier: Querier,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        lookback_ms: int = 300_000,
        max_samples: int = 50_000_000,
        timeout_s: float = 120.0,
        is_range_query: bool = False,
    ) -> Context:
        """The top-level context of a query."""
        times = np.arange(start_ms, end_ms + 1, max(step_ms, 1), dtype=np.int64)
        return cls(
            querier=querier,
            times=times,
            interval_ms=step_ms,
            query_start=start_ms,
            query_end=end_ms,
            lookback_ms=lookback_ms,
            budget=Budget(max_samples, time.monotonic() + timeout_s),
            annotations=Annotations(query),
            is_range_query=is_range_query,
        )

    @property
    def steps(self) -> int:
        return len(self.times)

    def at_steps(self, times: Ints, interval_ms: int) -> Context:
        """The same query evaluated at other steps (a subquery, or an ``@`` time)."""
        return replace(self, times=times, interval_ms=interval_ms)
