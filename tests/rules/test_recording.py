"""Recording rules rename results and apply labels, as Prometheus's rules/recording.go."""

from __future__ import annotations

import pytest

from vigie.exceptions import QueryError
from vigie.query.result import InstantVector, Sample
from vigie.rules.alerting import RuleHealth
from vigie.rules.recording import RecordingRule
from vigie.rules.rule_file import RecordingRuleSpec


def query_returning(*samples: tuple[dict[str, str], float]):  # type: ignore[no-untyped-def]
    def query(expr: str, ts_ms: int) -> InstantVector:
        return InstantVector([Sample(dict(labels), ts_ms, value) for labels, value in samples])

    return query


def test_results_renamed_and_labelled() -> None:
    """Each result gets the record name and the rule labels (overriding, empty removes)."""
    spec = RecordingRuleSpec("job:up:sum", "sum by (job, env) (up)", {"env": "", "team": "b"})
    rule = RecordingRule(spec, group_labels={"team": "a", "source": "rules"})
    query = query_returning(
        ({"job": "api", "env": "prod"}, 3.0), ({"__name__": "x", "job": "db"}, 1.0)
    )
    samples = rule.evaluate(120_000, query)
    assert [(s.labels, s.timestamp_ms, s.value) for s in samples] == [
        ({"__name__": "job:up:sum", "job": "api", "team": "b", "source": "rules"}, 120_000, 3.0),
        ({"__name__": "job:up:sum", "job": "db", "team": "b", "source": "rules"}, 120_000, 1.0),
    ]
    assert rule.health == RuleHealth.OK
    assert rule.last_evaluation == 120_000


def test_query_offset_moves_the_evaluation_time() -> None:
    """With a query offset the expression runs, and the samples land, at ts - offset."""
    rule = RecordingRule(RecordingRuleSpec("r", "vector(1)"))
    (sample,) = rule.evaluate(60_000, query_returning(({}, 1.0)), query_offset_ms=15_000)
    assert sample.timestamp_ms == 45_000


def test_duplicate_output_series_is_an_error() -> None:
    """Two results that collide after renaming fail, as Prometheus."""
    rule = RecordingRule(RecordingRuleSpec("r", "up"))
    query = query_returning(
        ({"__name__": "a", "job": "x"}, 1.0), ({"__name__": "b", "job": "x"}, 2.0)
    )
    with pytest.raises(QueryError, match="same labelset after applying rule labels"):
        rule.evaluate(0, query)
    assert rule.health == RuleHealth.ERR
    assert (
        rule.last_error
        == "vector contains metrics with the same labelset after applying rule labels"
    )


def test_limit() -> None:
    """More series than the group limit is an error."""
    rule = RecordingRule(RecordingRuleSpec("r", "up"))
    query = query_returning(({"i": "1"}, 1.0), ({"i": "2"}, 1.0))
    with pytest.raises(QueryError, match="exceeded limit of 1 with 2 series"):
        rule.evaluate(0, query, limit=1)
    assert len(rule.evaluate(0, query, limit=2)) == 2
