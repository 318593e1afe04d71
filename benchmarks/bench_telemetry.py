"""Span ingest throughput and search latency of vigie's TelemetryService at 1 M stored spans.

Workload: protobuf ``ExportTraceServiceRequest`` batches of 512 spans (the OpenTelemetry SDK's
``BatchSpanProcessor`` default), 64 traces of 8 spans each (a server span, a retrieval span, an
LLM call, stages; 6-8 attributes each, one exception event on failed spans), 10 services, 5 %
errors, durations from 1 ms to ~2 s.

Measured:

* sustained ingest: a producer thread calls ``ingest_traces`` (decode + queue) as fast as it can
  with pre-serialized batches; when the queue is full it gets 429 and retries after 5 ms, as an
  exporter would (sooner). Reported: spans/s accepted until the queue first saturates, and spans/s
  committed to disk over the whole timed window (the sustained figure);
* then the store is filled to ``--spans`` (default 1,000,000) and searches are timed: trace by id
  (the waterfall), spans by service + minimum duration, traces by service + error status, RED
  summary of one service over the last 10 minutes.

Peer: the best published figure for an embedded LLM-tracing server is about 80 spans/s; that
server is not installed here and there is no network, so it is NOT measured in this run: the
ratio printed is against that published number only.

Run::

    .venv/bin/python benchmarks/bench_telemetry.py                 # 1 M spans, a few minutes
    .venv/bin/python benchmarks/bench_telemetry.py --spans 100000  # quick
"""

from __future__ import annotations

import argparse
import random
import statistics
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from vigie.telemetry import SpanQuery, TelemetryService

BATCH_TRACES = 64
SPANS_PER_TRACE = 8
BATCH_SPANS = BATCH_TRACES * SPANS_PER_TRACE
SERVICES = [f"svc-{i}" for i in range(10)]
PEER_SPANS_PER_SECOND = 80.0
START_NS = 1_790_000_000 * 10**9
PROTOBUF = "application/x-protobuf"
STAGES = ("validate", "retrieval faq-index", "chat gpt-4o-mini", "rerank", "format", "cache get")


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _template(service: str) -> ExportTraceServiceRequest:
    """One batch; ids, times and durations are rewritten for each copy."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (
        ("service.name", service),
        ("service.version", "1.4.2"),
        ("deployment.environment.name", "production"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.version", "1.45.2"),
    ):
        resource_spans.resource.attributes.append(_kv(key, value))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "vigie"
    for _ in range(BATCH_TRACES):
        for position in range(SPANS_PER_TRACE):
            span = scope.spans.add()
            if position == 0:
                span.name, span.kind = "GET /answer", Span.SPAN_KIND_SERVER
                attributes = {
                    "http.request.method": "GET",
                    "http.route": "/answer",
                    "http.response.status_code": 200,
                    "url.scheme": "http",
                    "server.address": "faq.internal",
                    "user_agent.original": "python-httpx/0.27",
                }
            else:
                span.name = STAGES[position % len(STAGES)]
                span.kind = Span.SPAN_KIND_CLIENT if position in (2, 3) else Span.SPAN_KIND_INTERNAL
                attributes = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 420,
                    "gen_ai.usage.output_tokens": 77,
                    "vigie.stage": span.name,
                }
            span.attributes.extend(_kv(k, v) for k, v in attributes.items())
    return request


def batches(count: int, seed: int = 1) -> Iterator[bytes]:
    """``count`` serialized batches with unique trace and span ids, times moving forward."""
    rng = random.Random(seed)
    templates = [_template(service) for service in SERVICES]
    for number in range(count):
        request = templates[number % len(templates)]
        spans = request.resource_spans[0].scope_spans[0].spans
        base = START_NS + number * 50_000_000  # 50 ms of traffic per batch
        for trace in range(BATCH_TRACES):
            trace_id = struct.pack(">QQ", number + 1, trace + 1)
            start = base + trace * 700_000
            total = rng.randint(5, 2000) * 1_000_000
            failed = rng.random() < 0.05
            for position in range(SPANS_PER_TRACE):
                span = spans[trace * SPANS_PER_TRACE + position]
                span.trace_id = trace_id
                span.span_id = struct.pack(">IHH", number + 1, trace + 1, position + 1)
                if position == 0:
                    span.ClearField("parent_span_id")
                    begin, length = start, total
                else:
                    span.parent_span_id = struct.pack(">IHH", number + 1, trace + 1, 1)
                    begin = start + position * total // 10
                    length = max(1_000_000, total // (position + 2))
                span.start_time_unix_nano = begin
                span.end_time_unix_nano = begin + length
                error = failed and position in (0, 3)
                span.status.code = Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET
                del span.events[:]
                if error:
                    event = span.events.add()
                    event.name = "exception"
                    event.time_unix_nano = begin + length
                    event.attributes.append(_kv("exception.type", "TimeoutError"))
        yield request.SerializeToString()


accepted_at_saturation: list[int] = []


def _post_all(service: TelemetryService, payloads: list[bytes]) -> tuple[float | None, int]:
    """Offer every payload, retrying on 429; returns (seconds until first 429, 429 count)."""
    started = time.perf_counter()
    saturated: float | None = None
    refused = 0
    for payload in payloads:
        while True:
            status, _, _ = service.ingest_traces(payload, PROTOBUF)
            if status == 200:
                break
            if status != 429:
                raise SystemExit(f"unexpected status {status}")
            if saturated is None:
                saturated = time.perf_counter() - started
                accepted_at_saturation.append(service.span_queue.accepted)
            refused += 1
            time.sleep(0.005)
    return saturated, refused


def _latency(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1e3:7.2f} ms   p99 {p99 * 1e3:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans stored in the end")
    parser.add_argument(
        "--timed-spans", type=int, default=200_000, help="spans in the timed ingest window"
    )
    parser.add_argument("--queue-size", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    total_batches = max(1, args.spans // BATCH_SPANS)
    timed_batches = max(1, min(total_batches, args.timed_spans // BATCH_SPANS))
    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="vigie-bench-telemetry-"))
    service = TelemetryService(
        folder,
        queue_size=args.queue_size,
        retention_age=3650 * 86400,
        retention_bytes=1 << 40,
        retention_interval=86400,
        clock=lambda: START_NS / 1e9 + total_batches * 0.05,
    )
    print(f"data directory: {folder}")
    source = batches(total_batches)

    # 1. Sustained ingest, with pre-serialized batches so that generating them is not timed.
    payloads = [next(source) for _ in range(timed_batches)]
    timed = timed_batches * BATCH_SPANS
    started = time.perf_counter()
    saturated, refused = _post_all(service, payloads)
    offered = time.perf_counter() - started
    service.flush(600)
    elapsed = time.perf_counter() - started
    del payloads
    sustained = timed / elapsed
    print(f"\ningest window: {timed:,} spans in {timed_batches} protobuf batches of {BATCH_SPANS}")
    if saturated is None:
        print(f"  queue never saturated; offered at {timed / offered:,.0f} spans/s")
    else:
        accepted_before = accepted_at_saturation[0]
        print(
            f"  queue ({args.queue_size:,} spans) saturated after {saturated:.2f} s "
            f"(~{accepted_before / saturated:,.0f} spans/s accepted until then); "
            f"{refused} retries after 429"
        )
    print(f"  sustained (committed to disk, fsync per batch): {sustained:,.0f} spans/s")
    print("  goal: >= 10,000 spans/s ->", "met" if sustained >= 10_000 else "NOT met")

    # 2. Fill to the target size (not timed as ingest: generation runs in the same process).
    fill_started = time.perf_counter()
    remaining = list(source)
    for chunk_start in range(0, len(remaining), 50):
        _post_all(service, remaining[chunk_start : chunk_start + 50])
    service.flush(1800)
    fill_elapsed = time.perf_counter() - fill_started
    stored = service.spans.count()
    size = sum(path.stat().st_size for path in folder.glob("traces.db*"))
    print(
        f"\nstored: {stored:,} spans, traces.db {size / 1e6:,.0f} MB ({size / stored:,.0f} B/span)"
    )
    if remaining:
        filled = len(remaining) * BATCH_SPANS
        print(f"  fill: {filled:,} more spans in {fill_elapsed:.1f} s (generation included)")

    # 3. Search latency at this size.
    rng = random.Random(7)
    trace_ids = [
        struct.pack(">QQ", rng.randint(1, total_batches), rng.randint(1, BATCH_TRACES)).hex()
        for _ in range(args.lookups)
    ]
    samples = []
    for trace_id in trace_ids:
        begin = time.perf_counter()
        trace = service.get_trace(trace_id)
        samples.append(time.perf_counter() - begin)
        assert trace is not None, trace_id
        assert len(trace.spans) == SPANS_PER_TRACE, trace_id
    by_id = statistics.median(samples)
    print(f"\ntrace by id (waterfall of 8 spans):           {_latency(samples)}")
    print("  goal: < 50 ms ->", "met" if by_id < 0.05 else "NOT met")

    def timed_calls(call: object, count: int = 50) -> list[float]:
        out = []
        for index in range(count):
            begin = time.perf_counter()
            call(index)  # type: ignore[operator]
            out.append(time.perf_counter() - begin)
        return out

    slow = timed_calls(
        lambda i: service.search_spans(
            SpanQuery(service=SERVICES[i % 10], min_duration_ns=1_500_000_000, limit=20)
        )
    )
    print(f"spans by service + duration >= 1.5 s (20):    {_latency(slow)}")
    errors = timed_calls(
        lambda i: service.search_traces(
            SpanQuery(service=SERVICES[i % 10], status="ERROR", limit=20)
        )
    )
    print(f"traces by service + error status (20):        {_latency(errors)}")
    end_ns = START_NS + total_batches * 50_000_000
    red = timed_calls(
        lambda i: service.red_summary(
            start_ns=end_ns - 600 * 10**9, end_ns=end_ns, service=SERVICES[i % 10]
        ),
        count=10,
    )
    in_window = service.spans.database.read(
        "SELECT count(*) FROM spans WHERE service = ? AND start_ns >= ?",
        (SERVICES[0], end_ns - 600 * 10**9),
    )[0][0]
    print(f"RED summary, one service, last 10 minutes:    {_latency(red)}  ({in_window:,} spans)")

    print(
        f"\npeer: ~{PEER_SPANS_PER_SECOND:.0f} spans/s is the best published figure for an "
        "embedded LLM-tracing server;\n  it is not installed here and cannot be measured in this "
        "run. "
        f"vigie sustained / published peer figure: {sustained / PEER_SPANS_PER_SECOND:,.0f}x "
        "(not a same-machine measurement)."
    )
    service.close()


if __name__ == "__main__":
    main()
