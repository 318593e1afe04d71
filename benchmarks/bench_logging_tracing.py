"""Cost of vigie's logs and traces against their plain peers, measured in the same run.

Logs: one ``logger.info(...)`` call (a message with an e-mail and two extra fields)

* on the request path: vigie's queue handler (stamp ids, queue) vs the standard library writing a
  ``json.dumps`` line synchronously, without redaction;
* in total: vigie's JSON formatting *with redaction* vs the ``json.dumps`` formatter.

Traces: one ``with vigie.span("stage")`` vs one bare OpenTelemetry SDK span
(``tracer.start_as_current_span``), both on a provider with the same sampler and a batch
processor feeding an exporter that discards; and vigie.span while tracing is off.

Run: ``.venv/bin/python benchmarks/bench_logging_tracing.py``
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry

import vigie
from vigie.sdk import tracing
from vigie.sdk.log_format import JsonFormatter
from vigie.sdk.log_shipping import DroppingQueueHandler, LogListener
from vigie.sdk.redaction import Redactor

CALLS = 5_000
REPEATS = 21


def best(ours: Callable[[], object], peer: Callable[[], object]) -> tuple[float, float]:
    """Best time per call in microseconds of each, over REPEATS interleaved runs of CALLS calls.

    Interleaving keeps a change of machine load from favouring one side.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(REPEATS):
        for run, sink in ((ours, times[0]), (peer, times[1])):
            start = time.perf_counter()
            run()
            sink.append(time.perf_counter() - start)
    return min(times[0]) / CALLS * 1e6, min(times[1]) / CALLS * 1e6


class PlainJsonFormatter(logging.Formatter):
    """The peer: what a stdlib-only app writes, json.dumps of the usual fields, no redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "timestamp": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
                "order": getattr(record, "order", None),
                "amount": getattr(record, "amount", None),
            }
        )


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger


def log_calls(logger: logging.Logger) -> Callable[[], None]:
    def run() -> None:
        for index in range(CALLS):
            logger.info(
                "user %s checked out order %d",
                "jane.doe@example.com",
                index,
                extra={"order": index, "amount": 12.5},
            )

    return run


def bench_logs() -> list[tuple[str, float, float]]:
    plain = logging.StreamHandler(io.StringIO())
    plain.setFormatter(PlainJsonFormatter())
    handler = DroppingQueueHandler(queue_size=CALLS * REPEATS + 10, registry=CollectorRegistry())
    sink = logging.StreamHandler(io.StringIO())
    sink.setFormatter(JsonFormatter(service="bench"))
    logger = make_logger("bench.vigie", handler)
    # The request path alone: the listener is not running, so it does not compete for the GIL.
    vigie_call, stdlib_call = best(log_calls(logger), log_calls(make_logger("bench.stdlib", plain)))
    queued = handler.queue.qsize()
    listener = LogListener(handler.queue, [sink])
    start = time.perf_counter()
    listener.start()
    listener.stop()
    drain = (time.perf_counter() - start) / queued * 1e6
    assert handler.dropped == 0

    record = logging.LogRecord(
        "bench", logging.INFO, __file__, 1, "user %s checked out order %d",
        ("jane.doe@example.com", 7), None,
    )  # fmt: skip
    record.order, record.amount = 7, 12.5
    vigie_format = JsonFormatter(service="bench")
    unredacted = JsonFormatter(service="bench", redactor=Redactor(enabled=False))
    plain_format = PlainJsonFormatter()
    vigie_fmt, plain_fmt = best(
        lambda: [vigie_format.format(record) for _ in range(CALLS)],
        lambda: [plain_format.format(record) for _ in range(CALLS)],
    )
    bare_fmt, plain_fmt_2 = best(
        lambda: [unredacted.format(record) for _ in range(CALLS)],
        lambda: [plain_format.format(record) for _ in range(CALLS)],
    )
    return [
        ("log call, request path (vigie queue vs stdlib sync JSON)", vigie_call, stdlib_call),
        ("format one line (vigie JSON+redaction vs json.dumps)", vigie_fmt, plain_fmt),
        ("format one line, redaction off (vigie JSON vs json.dumps)", bare_fmt, plain_fmt_2),
        (
            "total per record (vigie path + writer thread vs stdlib)",
            vigie_call + drain,
            stdlib_call,
        ),
    ]


class DiscardExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def bench_spans() -> list[tuple[str, float, float]]:
    bare_provider = TracerProvider(sampler=ParentBased(root=TraceIdRatioBased(1.0)))
    bare_provider.add_span_processor(BatchSpanProcessor(DiscardExporter(), max_queue_size=65536))
    tracer = bare_provider.get_tracer("bench")

    def bare() -> None:
        for _ in range(CALLS):
            with tracer.start_as_current_span("stage"):
                pass

    def with_vigie() -> None:
        for _ in range(CALLS):
            with vigie.span("stage"):
                pass

    off, bare_cost_2 = best(with_vigie, bare)
    tracing.install(service_name="bench", set_global=False, propagate_outgoing=False)
    state = tracing._active
    assert state is not None
    state.provider.add_span_processor(BatchSpanProcessor(DiscardExporter(), max_queue_size=65536))
    vigie_cost, bare_cost = best(with_vigie, bare)
    tracing.uninstall()
    bare_provider.shutdown()
    return [
        ("span (vigie.span vs bare OTel SDK span)", vigie_cost, bare_cost),
        ("span while tracing is off (vigie no-op vs bare OTel span)", off, bare_cost_2),
    ]


def main() -> None:
    rows = bench_logs() + bench_spans()
    print(f"{CALLS} calls, best of {REPEATS} runs; microseconds per call")
    print(f"{'measure':<62} {'vigie':>8} {'peer':>8} {'ratio':>7}")
    for name, ours, peer in rows:
        print(f"{name:<62} {ours:8.2f} {peer:8.2f} {ours / peer:6.2f}x")


if __name__ == "__main__":
    main()
