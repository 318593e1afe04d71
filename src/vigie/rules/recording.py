"""Recording rules: an expression's result stored under a new metric name.

As Prometheus's ``rules/recording.go``: each result series is renamed to the rule's ``record``
name, the rule's labels are set (an empty value removes the label), and an evaluation whose
results collide after that — two series with the same labels — fails rather than writing one
over the other.

Example::

    >>> from vigie.query.result import InstantVector, Sample
    >>> from vigie.rules.rule_file import RecordingRuleSpec
    >>> rule = RecordingRule(RecordingRuleSpec("job:up:sum", "sum by (job) (up)", {"team": "a"}))
    >>> query = lambda expr, t: InstantVector([Sample({"job": "api"}, t, 3.0)])
    >>> [(s.labels, s.timestamp_ms, s.value) for s in rule.evaluate(60_000, query)]
    [({'job': 'api', '__name__': 'job:up:sum', 'team': 'a'}, 60000, 3.0)]
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from vigie.exceptions import QueryError, VigieError
from vigie.query.result import Sample
from vigie.rules.alerting import QueryFunction, RuleHealth
from vigie.rules.rule_file import RecordingRuleSpec
from vigie.store.interface import label_pairs

__all__ = ["RecordingRule"]


class RecordingRule:
    """A ``record:`` rule; :meth:`evaluate` returns the samples to store."""

    kind = "recording"

    def __init__(
        self, spec: RecordingRuleSpec, *, group_labels: Mapping[str, str] | None = None
    ) -> None:
        self.spec = spec
        self.name = spec.record
        self.expr = spec.expr
        self.labels: dict[str, str] = {**(group_labels or {}), **spec.labels}
        self.health = RuleHealth.UNKNOWN
        self.last_error = ""
        self.last_evaluation: int | None = None
        self.evaluation_seconds = 0.0

    def evaluate(
        self, ts_ms: int, query: QueryFunction, *, query_offset_ms: int = 0, limit: int = 0
    ) -> list[Sample]:
        """Run the expression at ``ts_ms - query_offset_ms``; raises QueryError on failure."""
        started = time.perf_counter()
        self.last_evaluation = ts_ms
        try:
            samples = self._evaluate(ts_ms - query_offset_ms, query, limit)
        except VigieError as error:
            self.health = RuleHealth.ERR
            self.last_error = str(error)
            raise
        finally:
            self.evaluation_seconds = time.perf_counter() - started
        self.health = RuleHealth.OK
        self.last_error = ""
        return samples

    def _evaluate(self, ts_ms: int, query: QueryFunction, limit: int) -> list[Sample]:
        result = query(self.expr, ts_ms)
        samples: list[Sample] = []
        seen: set[tuple[tuple[str, str], ...]] = set()
        for sample in result.samples:
            labels = dict(sample.labels)
            labels["__name__"] = self.name
            for name, value in self.labels.items():
                if value == "":
                    labels.pop(name, None)
                else:
                    labels[name] = value
            key = label_pairs(labels)
            if key in seen:
                raise QueryError(
                    "vector contains metrics with the same labelset after applying rule labels"
                )
            seen.add(key)
            samples.append(Sample(labels, ts_ms, sample.value))
        if 0 < limit < len(samples):
            raise QueryError(f"exceeded limit of {limit} with {len(samples)} series")
        return samples
