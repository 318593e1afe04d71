"""Parsing Prometheus text 0.0.4 and OpenMetrics expositions."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from vigie.exceptions import ExpositionError
from vigie.server.exposition import ExpositionParser, exposition_format

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _rows(
    data: bytes | str, content_type: str = "text/plain"
) -> list[tuple[dict[str, str], float, int | None]]:
    result = ExpositionParser().parse(data, content_type)
    return [(labels, value, ts) for _, labels, value, ts in result.samples]


def test_text_format_samples_labels_and_timestamps() -> None:
    """Names, escaped label values, special floats and ms timestamps are read exactly."""
    text = (
        "# HELP http_requests_total The total\\nnumber.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
        'http_requests_total{ method = "get" , path="C:\\\\dir\\"x\\"\\n", } 3\n'
        "\n"
        "# a plain comment\n"
        "  metric_without_labels +Inf\n"
        "nan_metric NaN\n"
        "neg -1.5e3 -10\n"
    )
    rows = _rows(text)
    assert rows[0] == (
        {"__name__": "http_requests_total", "method": "post", "code": "200"},
        1027.0,
        1395066363000,
    )
    assert rows[1] == (
        {"__name__": "http_requests_total", "method": "get", "path": 'C:\\dir"x"\n'},
        3.0,
        None,
    )
    assert rows[2] == ({"__name__": "metric_without_labels"}, math.inf, None)
    assert math.isnan(rows[3][1])
    assert rows[4] == ({"__name__": "neg"}, -1500.0, -10)
    metadata = ExpositionParser().parse(text).metadata["http_requests_total"]
    assert (metadata.type, metadata.help) == ("counter", "The total\nnumber.")


def test_cached_series_parse_the_same_on_the_second_scrape() -> None:
    """The series cache gives the same result as the first, uncached parse."""
    parser = ExpositionParser()
    text = 'a{x="1 } 2"} 5\na{x="1 } 2"} 6 77\nb 1\nb 2 3\n'
    first = parser.parse(text)
    second = parser.parse(text)
    assert [(labels, v, t) for _, labels, v, t in first.samples] == [
        (labels, v, t) for _, labels, v, t in second.samples
    ]
    assert [(v, t) for _, _, v, t in second.samples] == [
        (5.0, None), (6.0, 77), (1.0, None), (2.0, 3),
    ]  # fmt: skip
    assert second.labels(second.samples[0][0]) == {"__name__": "a", "x": "1 } 2"}


def test_prometheus_client_output_in_both_formats() -> None:
    """What prometheus-client exposes parses in both formats, with exemplars and _created."""
    registry = CollectorRegistry()
    counter = Counter("jobs", "Jobs done.", ["queue"], registry=registry)
    counter.labels("q1").inc(3, exemplar={"trace_id": "abc"})
    histogram = Histogram("latency_seconds", "Latency.", registry=registry, buckets=[0.1, 1])
    histogram.observe(0.5, exemplar={"trace_id": "def"})
    text = _rows(generate_latest(registry))
    names = {labels["__name__"] for labels, _, _ in text}
    assert {
        "jobs_total",
        "jobs_created",
        "latency_seconds_bucket",
        "latency_seconds_count",
    } <= names
    result = ExpositionParser().parse(generate_openmetrics(registry), OM)
    rows = [(labels, v) for _, labels, v, _ in result.samples]
    assert ({"__name__": "jobs_total", "queue": "q1"}, 3.0) in rows
    assert result.metadata["jobs"].type == "counter"
    exemplars = {result.labels(key)["__name__"]: ex for key, ex in result.exemplars}
    assert exemplars["jobs_total"].labels == {"trace_id": "abc"}
    assert exemplars["jobs_total"].value == 3.0
    assert exemplars["latency_seconds_bucket"].labels == {"trace_id": "def"}


def test_openmetrics_timestamps_units_and_exemplar_timestamp() -> None:
    """OpenMetrics timestamps are seconds; UNIT is read; exemplars may carry a timestamp."""
    text = (
        "# TYPE req_seconds counter\n# UNIT req_seconds seconds\n# HELP req_seconds Time.\n"
        'req_seconds_total 5 1700000000.5 # {trace_id="t"} 0.2 1700000000.25\n'
        "req_seconds_created 1700000000\n"
        "# EOF\n"
    )
    result = ExpositionParser().parse(text, OM)
    assert [(v, t) for _, _, v, t in result.samples] == [(5.0, 1700000000500), (1.7e9, None)]
    assert result.metadata["req_seconds"].unit == "seconds"
    assert result.exemplars[0][1].timestamp_ms == 1700000000250


@pytest.mark.parametrize(
    ("text", "content_type", "line", "reason"),
    [
        ('a 1\nb{x="1" 2\n', "text/plain", 2, "expected ',' or '}' after label 'x'"),
        ("a 1\n1b 2\n", "text/plain", 2, "invalid metric name"),
        ("a{x=1} 2\n", "text/plain", 1, "expected a quoted value for label 'x'"),
        ('a{x="1",x="2"} 2\n', "text/plain", 1, "duplicate label name 'x'"),
        ('a{x="1} 2\n', "text/plain", 1, "unterminated value for label 'x'"),
        ('a{1x="1"} 2\n', "text/plain", 1, "invalid label name"),
        ("ok 1\na abc\n", "text/plain", 2, "invalid value 'abc'"),
        ("a 1_000\n", "text/plain", 1, "invalid value '1_000'"),
        ("a 1 2 3\n", "text/plain", 1, "unexpected '3' after the timestamp"),
        ("a 1 1.5\n", "text/plain", 1, "invalid timestamp '1.5'"),
        ("a\n", "text/plain", 1, "expected a value after 'a'"),
        ("# TYPE a countr\na 1\n", "text/plain", 1, "invalid metric type 'countr'"),
        ("a 1\n", OM, 1, "data does not end with # EOF"),
        ("a 1\n# EOF\nb 2\n", OM, 3, "unexpected content after # EOF"),
        ("a 1\n\n# EOF\n", OM, 2, "unexpected empty line"),
        (
            "# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# EOF\n",
            OM,
            2,
            "unit 'bytes' is not a suffix",
        ),
        ('a_total 1 # {trace_id="' + "x" * 130 + '"} 1\n# EOF\n', OM, 1, "more than 128"),
        ("a_total 1 # trace 1\n# EOF\n", OM, 1, "invalid exemplar"),
    ],
)
def test_malformed_expositions_fail_with_line_and_reason(
    text: str, content_type: str, line: int, reason: str
) -> None:
    """Each malformed input raises ExpositionError naming the line and the reason."""
    parser = ExpositionParser(source="http://t/metrics")
    with pytest.raises(ExpositionError) as caught:
        parser.parse(text, content_type)
    assert caught.value.line == line
    assert reason in caught.value.message
    assert str(caught.value).startswith(f"http://t/metrics:{line}: ")


def test_malformed_after_cached_lines_still_fails() -> None:
    """A bad value on a cached series is caught by the careful path."""
    parser = ExpositionParser()
    parser.parse('a{x="1"} 1\n')
    with pytest.raises(ExpositionError, match="invalid value 'oops'"):
        parser.parse('a{x="1"} oops\n')


def test_invalid_utf8_names_its_line() -> None:
    """Bytes that are not UTF-8 fail with the line they are on."""
    with pytest.raises(ExpositionError) as caught:
        ExpositionParser().parse(b'a 1\nb{x="\xff"} 2\n')
    assert caught.value.line == 2


def test_content_type_negotiation() -> None:
    """OpenMetrics only when the target says so; text otherwise."""
    assert exposition_format(OM) == "openmetrics"
    assert exposition_format("text/plain; version=0.0.4") == "text"
    assert exposition_format(None) == "text"


@pytest.mark.parametrize("value", ["1_000", "1e999", "-1e999", "0x10", "1.5.2"])
def test_bad_values_on_cached_series_fail_like_new_ones(value: str) -> None:
    """The fast path for known series refuses what the careful parser refuses (Go's
    ParseFloat: no underscores, no out-of-range numbers), naming the line."""
    parser = ExpositionParser()
    parser.parse('a{x="1"} 1\nb 2\n')
    with pytest.raises(ExpositionError) as caught:
        parser.parse(f'a{{x="1"}} 1\nb {value}\n')
    assert caught.value.line == 2
    assert f"invalid value {value!r}" in caught.value.message


def test_special_values_on_cached_series() -> None:
    """NaN and infinities, spelled as Prometheus allows, are kept on known series too."""
    parser = ExpositionParser()
    parser.parse("a 1\nb 2 1700000000000\n")
    result = parser.parse("a +Inf\nb NaN 1700000000000\n")
    assert result.values[0] == float("inf")
    assert result.values[1] != result.values[1]
    assert result.stamps == {1: 1700000000000}
