"""Hostile input for every parser of outside data: typed errors only, bounded time and memory.

Each test draws ``VIGIE_FUZZ_EXAMPLES`` inputs (derandomized) from a strategy mixing valid-looking
structure with garbage, and runs them through ``fuzz.check``: anything but the parser's typed
vigie error, or more than the per-input time bound, fails the test.
"""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC
from typing import Any

import cramjam
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigie.environment_variables import VIGIE_FUZZ_EXAMPLES
from vigie.exceptions import VigieError
from vigie.notify.config import parse_routing_config
from vigie.notify.matchers import parse_matchers
from vigie.notify.silences import Silence
from vigie.query import Engine, parse
from vigie.rules.rule_file import parse_rule_text
from vigie.server.exposition import ExpositionParser
from vigie.server.remote_write import WriteRequest, decode
from vigie.store import MemoryStorage
from vigie.telemetry.log_tailing import parse_line
from vigie.telemetry.otlp_decoding import decode_logs, decode_traces
from vigie.telemetry.records import LogRecord

EXAMPLES = int(VIGIE_FUZZ_EXAMPLES.read() or "300")
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- shared strategies ------------------------------------------------------------------------

names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
nasty = st.sampled_from(
    ["", "\x00", "\\", '"', "\n", "{", "}", "=", ",", "#", " ", "\u2028", "é", "NaN", "+Inf",
     "-Inf", "1e309", "9" * 40, "0x1p3", "\ud800".encode("utf-8", "surrogatepass").decode(
         "utf-8", "replace"), "${x}", "{{ .Labels }}", "[5m]", "offset", "@", "by", "(", ")"]
)  # fmt: skip
tokens = st.one_of(names, nasty, st.text(max_size=12))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


# -- exposition text and OpenMetrics ----------------------------------------------------------

TYPES = ["counter", "gauge", "histogram", "summary", "untyped", "info", "x"]


@st.composite
def expositions(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 4))
        name = draw(names)
        if kind == 0:
            lines.append(f"# TYPE {name} {draw(st.sampled_from(TYPES))}")
        elif kind == 1:
            lines.append(f"# HELP {name} {draw(st.text(max_size=20))}")
        elif kind == 2:
            labels = ",".join(
                f'{draw(names)}="{draw(tokens)}"' for _ in range(draw(st.integers(0, 3)))
            )
            value = draw(st.one_of(st.floats().map(repr), tokens))
            stamp = draw(st.one_of(st.just(""), st.integers().map(lambda n: f" {n}")))
            lines.append(f"{name}{{{labels}}} {value}{stamp}")
        elif kind == 3:
            lines.append(f'{name}_bucket{{le="{draw(tokens)}"}} 1 # {{{draw(tokens)}}} 1')
        else:
            lines.append("".join(draw(st.lists(tokens, max_size=6))))
    if draw(st.booleans()):
        lines.append("# EOF")
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


@FUZZ
@given(text=expositions(), openmetrics=st.booleans())
def test_exposition_text(fuzz: Any, text: str, openmetrics: bool) -> None:
    """Prometheus text and OpenMetrics: parsed or ExpositionError."""
    content_type = "application/openmetrics-text; version=1.0.0" if openmetrics else "text/plain"
    target = "exposition (openmetrics)" if openmetrics else "exposition (text)"
    fuzz.check(target, ExpositionParser(source="fuzz").parse, text, content_type)


@FUZZ
@given(data=st.binary(max_size=400))
def test_exposition_bytes(fuzz: Any, data: bytes) -> None:
    """Raw bytes (invalid UTF-8 included) as an exposition."""
    fuzz.check("exposition (bytes)", ExpositionParser().parse, data, None)


# -- remote write ------------------------------------------------------------------------------


@st.composite
def write_requests(draw: st.DrawFn) -> bytes:
    request = WriteRequest()
    for _ in range(draw(st.integers(0, 4))):
        series = request.timeseries.add()
        for _ in range(draw(st.integers(0, 4))):
            label = series.labels.add()
            label.name = draw(st.one_of(names, st.just("__name__"), st.text(max_size=8)))
            label.value = draw(st.text(max_size=16))
        for _ in range(draw(st.integers(0, 3))):
            sample = series.samples.add()
            sample.value = draw(st.floats())
            sample.timestamp = draw(st.integers(-(2**63), 2**63 - 1))
    raw = request.SerializeToString()
    if draw(st.booleans()) and raw:  # flip bytes: a truncated or corrupted message
        position = draw(st.integers(0, len(raw) - 1))
        raw = raw[:position] + bytes([draw(st.integers(0, 255))]) + raw[position + 1 :]
    return raw


@FUZZ
@given(raw=write_requests(), compressed=st.booleans(), garbage=st.binary(max_size=200))
def test_remote_write(fuzz: Any, raw: bytes, compressed: bool, garbage: bytes) -> None:
    """Snappy + protobuf WriteRequest, mutated or plain garbage: decoded or PayloadError."""
    body = bytes(cramjam.snappy.compress_raw(raw)) if compressed else garbage
    result = fuzz.check("remote write protobuf", decode, body)
    if not isinstance(result, VigieError):
        series, _ = result
        for item in series:
            assert item.labels["__name__"]


# -- OTLP protobuf and JSON --------------------------------------------------------------------


@st.composite
def otlp_json(draw: st.DrawFn, signal: str) -> bytes:
    leaf = "spans" if signal == "traces" else "logRecords"
    middle = "scopeSpans" if signal == "traces" else "scopeLogs"
    top = "resourceSpans" if signal == "traces" else "resourceLogs"
    record = draw(st.dictionaries(
        st.sampled_from(["traceId", "spanId", "parentSpanId", "name", "startTimeUnixNano",
                         "endTimeUnixNano", "timeUnixNano", "severityNumber", "body",
                         "attributes", "status", "kind", "events", "links"]),
        json_values, max_size=8,
    ))  # fmt: skip
    document = {top: [{"resource": draw(json_values), middle: [{leaf: [record]}]}]}
    if draw(st.booleans()):
        document = draw(json_values)  # any JSON at all
    return json.dumps(document).encode()


def _otlp(fuzz: Any, signal: str, body: bytes, content_type: str, encoding: str | None) -> None:
    decode = decode_traces if signal == "traces" else decode_logs
    fuzz.check(f"OTLP {signal} ({content_type.split('/')[-1]})", decode, body, content_type,
               encoding, max_bytes=1 << 20)  # fmt: skip


@FUZZ
@given(signal=st.sampled_from(["traces", "logs"]), data=st.data())
def test_otlp_json(fuzz: Any, signal: str, data: st.DataObject) -> None:
    """OTLP/JSON: decoded or PayloadError, whatever the document."""
    body = data.draw(otlp_json(signal))
    encoding = None
    if data.draw(st.booleans()):
        body, encoding = gzip.compress(body), "gzip"
    _otlp(fuzz, signal, body, "application/json", encoding)


@FUZZ
@given(signal=st.sampled_from(["traces", "logs"]), body=st.binary(max_size=300),
       encoding=st.sampled_from([None, "gzip", "deflate", "br", "x"]))  # fmt: skip
def test_otlp_protobuf(fuzz: Any, signal: str, body: bytes, encoding: str | None) -> None:
    """OTLP/protobuf garbage, with or without a (wrong) content encoding."""
    _otlp(fuzz, signal, body, "application/x-protobuf", encoding)


def test_otlp_gzip_bomb_is_bounded(fuzz: Any) -> None:
    """A 1 KiB gzip body inflating to 64 MiB is refused, not inflated into memory."""
    bomb = gzip.compress(b"\x00" * (64 << 20))
    error = fuzz.check("OTLP gzip bomb", decode_traces, bomb, "application/x-protobuf", "gzip",
                       max_bytes=1 << 20)  # fmt: skip
    assert isinstance(error, VigieError)


# -- PromQL ------------------------------------------------------------------------------------

promql_tokens = st.sampled_from(
    ["up", "rate(", "sum", " by ", "(", ")", "[5m]", "[1s:1ms]", "{", "}", 'job="a"', "=~",
     '".*"', ",", "+", "/", "^", " offset ", "-1h", " @ ", "start()", "1e308", "NaN", "topk(",
     "histogram_quantile(", "0.9", "label_replace(", '"x"', "on(", "ignoring(", "group_left",
     " and ", " or ", " unless ", "count_values(", "absent(", "time()", "vector(1)", "-", "!",
     "__name__", "bool", " == ", "quantile_over_time(", "[1000000d]", "[1ms]", ":"]
)  # fmt: skip


@FUZZ
@given(parts=st.lists(st.one_of(promql_tokens, st.text(max_size=4)), max_size=14))
def test_promql_strings(fuzz: Any, parts: list[str]) -> None:
    """Any string through parse and a bounded engine: a result or a typed query error."""
    expr = "".join(parts)
    fuzz.check("PromQL parse", parse, expr)
    storage = MemoryStorage()
    appender = storage.appender()
    for index in range(20):
        appender.append({"__name__": "up", "job": f"j{index % 3}"}, index * 15_000, float(index))
    appender.commit()
    engine = Engine(storage, max_samples=100_000, timeout_s=2.0)
    fuzz.check("PromQL evaluate", engine.instant, expr, 300_000)


# -- rule files, routing config, silences, matchers --------------------------------------------


@st.composite
def rule_files(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)) == 0:
        return draw(st.text(max_size=200))  # not even YAML
    rule = draw(st.dictionaries(
        st.sampled_from(["record", "alert", "expr", "for", "keep_firing_for", "labels",
                         "annotations", "x"]),
        st.one_of(json_values, promql_tokens), max_size=6,
    ))  # fmt: skip
    group = draw(st.dictionaries(
        st.sampled_from(["name", "interval", "limit", "rules", "query_offset"]),
        st.one_of(json_values, st.just([rule])), max_size=5,
    ))  # fmt: skip
    return yaml.safe_dump({"groups": [group]} if draw(st.booleans()) else draw(json_values))


@FUZZ
@given(text=rule_files())
def test_rule_files(fuzz: Any, text: str) -> None:
    """Rule files: parsed with a list of located errors, never an unhandled exception."""
    result = fuzz.check("rule file", parse_rule_text, text, "fuzz.yml")
    if not isinstance(result, VigieError):
        _, errors = result
        assert all(isinstance(error, VigieError) for error in errors)


@st.composite
def routing_configs(draw: st.DrawFn) -> str:
    route = draw(st.dictionaries(
        st.sampled_from(["receiver", "group_by", "group_wait", "group_interval",
                         "repeat_interval", "matchers", "routes", "continue", "match",
                         "match_re", "mute_time_intervals"]),
        st.one_of(json_values, st.lists(tokens, max_size=3)), max_size=6,
    ))  # fmt: skip
    document = {
        "route": route,
        "receivers": draw(st.lists(st.dictionaries(
            st.sampled_from(["name", "webhook_configs", "apprise_urls", "email_configs"]),
            json_values, max_size=3), max_size=3)),
        "inhibit_rules": draw(st.lists(json_values, max_size=2)),
    }  # fmt: skip
    if draw(st.integers(0, 3)) == 0:
        return draw(st.text(max_size=150))
    return yaml.safe_dump(document)


@FUZZ
@given(text=routing_configs())
def test_routing_config(fuzz: Any, text: str) -> None:
    """Routing configuration: RoutingConfig or RoutingConfigError."""
    fuzz.check("routing config", parse_routing_config, text, source="fuzz.yml")


@FUZZ
@given(parts=st.lists(st.one_of(tokens, st.sampled_from(["=", "!=", "=~", "!~", '"', "{", "}"])),
                      max_size=10))  # fmt: skip
def test_silence_matchers(fuzz: Any, parts: list[str]) -> None:
    """Matcher strings (amtool syntax): matchers or RoutingConfigError."""
    fuzz.check("silence matchers", parse_matchers, "".join(parts))


@FUZZ
@given(raw=st.one_of(
    json_values,
    st.fixed_dictionaries({
        "matchers": st.one_of(json_values, st.lists(st.dictionaries(
            st.sampled_from(["name", "value", "isRegex", "isEqual"]), json_values), max_size=3)),
        "startsAt": st.one_of(json_values, st.just("2026-01-01T00:00:00Z")),
        "endsAt": st.one_of(json_values, st.just("2026-01-02T00:00:00Z")),
    }),
))  # fmt: skip
def test_silence_bodies(fuzz: Any, raw: Any) -> None:
    """POST /api/v2/silences bodies: a Silence or RoutingConfigError."""
    from datetime import datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    fuzz.check("silence API body", Silence.from_api, raw, now)


# -- log lines being tailed ---------------------------------------------------------------------


@FUZZ
@given(line=st.one_of(
    st.text(max_size=300),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["time", "timestamp", "ts", "level", "severity", "msg",
                                     "message", "trace_id", "span_id", "logger", "x"]),
                    json_values, max_size=8).map(json.dumps),
))  # fmt: skip
def test_tailed_log_lines(fuzz: Any, line: str) -> None:
    """Any line becomes a LogRecord: the tailer never raises on content."""
    record = fuzz.check("tailed log line", parse_line, line, now_ns=1, source="app.log",
                        allowed=())  # fmt: skip
    assert isinstance(record, LogRecord)
    assert not (isinstance(record.time_ns, float) and math.isnan(record.time_ns))
