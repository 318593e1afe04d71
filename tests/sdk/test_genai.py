"""GenAI semantic-convention metrics: track_llm, error kinds, streams, cost, failsafe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from vigie.sdk import genai
from vigie.sdk.cost import Price, PriceBook
from vigie.sdk.failsafe import swallowing_internal_errors
from vigie.sdk.genai import (
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    LLMCall,
    MeasuredAsyncStream,
    MeasuredStream,
    error_type,
    set_span_factory,
    track_llm,
)

BOOK = PriceBook(second_currency="EUR", exchange_rate=0.5, prices={"llama3": Price(1.0, 2.0)})


def labels(model: str = "llama3", response: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "ollama",
        "gen_ai_request_model": model,
        "gen_ai_response_model": model if response is None else response,
        **extra,
    }


def requests(registry: CollectorRegistry, outcome: str, error: str = "") -> float | None:
    return registry.get_sample_value(
        "gen_ai_client_requests_total",
        {
            "gen_ai_operation_name": "chat",
            "gen_ai_provider_name": "ollama",
            "gen_ai_request_model": "llama3",
            "outcome": outcome,
            "error_type": error,
        },
    )


class FakeClock:
    """A perf_counter that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(genai, "perf_counter", fake)
    return fake


def test_track_llm_records_duration_tokens_and_cost(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    """A tracked call records duration, token histograms and counters, and cost in 2 currencies."""
    with track_llm(provider="ollama", model="llama3", registry=registry, price_book=BOOK) as call:
        clock.now += 1.5
        call.set_usage(1000, 500, cache_read_tokens=200, reasoning_tokens=100)
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_duration_seconds_sum", labels(error_type="")) == 1.5
    assert (
        get("gen_ai_client_operation_duration_seconds_bucket", labels(error_type="", le="1.28"))
        == 0
    )
    assert (
        get("gen_ai_client_operation_duration_seconds_bucket", labels(error_type="", le="2.56"))
        == 1
    )
    assert get("gen_ai_client_token_usage_sum", labels(gen_ai_token_type="input")) == 1000
    assert (
        get("gen_ai_client_token_usage_bucket", labels(gen_ai_token_type="output", le="256.0")) == 0
    )
    assert (
        get("gen_ai_client_token_usage_bucket", labels(gen_ai_token_type="output", le="1024.0"))
        == 1
    )
    assert get("gen_ai_client_tokens_total", labels(gen_ai_token_type="cache_read")) == 200
    assert get("gen_ai_client_tokens_total", labels(gen_ai_token_type="reasoning")) == 100
    assert get("gen_ai_client_tokens_total", labels(gen_ai_token_type="cache_creation")) is None
    # user price: 800*1 + 200*1 (no cache price given) + 500*2, per million
    assert get("gen_ai_client_cost_total", labels(currency="USD")) == pytest.approx(0.002)
    assert get("gen_ai_client_cost_total", labels(currency="EUR")) == pytest.approx(0.001)
    assert requests(registry, "success") == 1


def test_buckets_are_the_opentelemetry_ones(registry: CollectorRegistry) -> None:
    """Duration and token histograms use the GenAI spec's explicit bucket boundaries."""
    with track_llm(provider="ollama", model="llama3", registry=registry, price_book=BOOK) as call:
        call.set_usage(1, 1)
    metrics = {m.name: m for m in registry.collect()}
    duration = {
        float(s.labels["le"])
        for s in metrics["gen_ai_client_operation_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert duration == {*DURATION_BUCKETS, float("inf")}
    tokens = {
        float(s.labels["le"])
        for s in metrics["gen_ai_client_token_usage"].samples
        if s.name.endswith("_bucket") and s.labels["gen_ai_token_type"] == "input"
    }
    assert tokens == {*map(float, TOKEN_BUCKETS), float("inf")}


def test_user_exception_is_counted_and_reraised(registry: CollectorRegistry) -> None:
    """The user's own error propagates untouched, counted by error_type."""
    error = TimeoutError("slow model")
    with (
        pytest.raises(TimeoutError) as caught,
        track_llm(provider="ollama", model="llama3", registry=registry),
    ):
        raise error
    assert caught.value is error
    assert requests(registry, "error", "timeout") == 1
    count = registry.get_sample_value(
        "gen_ai_client_operation_duration_seconds_count",
        labels(response="", error_type="timeout"),
    )
    assert count == 1
    # no usage on an error: no token series, and not "unpriced" either
    assert registry.get_sample_value("gen_ai_client_cost_unpriced_total", {}) is None


class RateLimitError(Exception):
    """Named like the clients' class: mapping goes by name, not by import."""


class APIStatusError(Exception):
    def __init__(self, status_code: int, body: object = None) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.body = body


class APITimeoutError(ConnectionError):
    pass


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RateLimitError(), "rate_limit"),
        (APITimeoutError(), "timeout"),
        (ConnectionRefusedError(), "connection"),
        (APIStatusError(503), "server_error"),
        (APIStatusError(429), "rate_limit"),
        (APIStatusError(418), "http_418"),
        (
            APIStatusError(200, {"type": "error", "error": {"type": "overloaded_error"}}),
            "overloaded",
        ),
        (asyncio.CancelledError(), "cancelled"),
        (ValueError("x"), "ValueError"),
    ],
)
def test_error_type_mapping(error: BaseException, kind: str) -> None:
    """Exceptions map to stable error_type values, else to their class name."""
    assert error_type(error) == kind


def test_decorator_with_usage_from(registry: CollectorRegistry) -> None:
    """As a decorator, usage_from reads tokens out of the function's result."""

    @track_llm(
        provider="ollama",
        model="llama3",
        registry=registry,
        price_book=BOOK,
        usage_from=lambda r: {
            "input_tokens": r["prompt_eval_count"],
            "output_tokens": r["eval_count"],
        },
    )
    def ask(prompt: str) -> dict[str, int]:
        return {"prompt_eval_count": 7, "eval_count": 9}

    assert ask("hi") == {"prompt_eval_count": 7, "eval_count": 9}
    ask("again")
    get = registry.get_sample_value
    assert get("gen_ai_client_tokens_total", labels(gen_ai_token_type="input")) == 14
    assert get("gen_ai_client_tokens_total", labels(gen_ai_token_type="output")) == 18
    assert requests(registry, "success") == 2


async def test_async_decorator_and_context_manager(registry: CollectorRegistry) -> None:
    """Async functions and ``async with`` are tracked the same way."""

    @track_llm(provider="ollama", model="llama3", registry=registry, price_book=BOOK)
    async def ask() -> str:
        await asyncio.sleep(0)
        return "ok"

    assert await ask() == "ok"
    async with track_llm(
        provider="ollama", model="llama3", registry=registry, price_book=BOOK
    ) as call:
        call.set_usage(3, 4)
    assert requests(registry, "success") == 2
    assert (
        registry.get_sample_value("gen_ai_client_tokens_total", labels(gen_ai_token_type="output"))
        == 4
    )


def test_unpriced_model_counts_and_logs_once(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A model without a price increments the unpriced counter and logs once; cost stays absent."""
    caplog.set_level(logging.WARNING, logger="vigie")
    for _ in range(3):
        with track_llm(
            provider="ollama", model="mystery-7b", registry=registry, price_book=BOOK
        ) as call:
            call.set_usage(10, 10)
    unpriced = {
        "gen_ai_provider_name": "ollama",
        "gen_ai_request_model": "mystery-7b",
        "gen_ai_response_model": "mystery-7b",
        "reason": "unknown_model",
    }
    assert registry.get_sample_value("gen_ai_client_cost_unpriced_total", unpriced) == 3
    assert (
        registry.get_sample_value("gen_ai_client_cost_total", labels("mystery-7b", currency="USD"))
        is None
    )
    warnings = [r for r in caplog.records if "mystery-7b" in r.getMessage()]
    assert len(warnings) == 1


def test_missing_usage_is_unpriced(registry: CollectorRegistry) -> None:
    """A successful call without reported usage is counted as unpriced (missing_usage)."""
    with track_llm(provider="ollama", model="no-usage", registry=registry, price_book=BOOK):
        pass
    value = registry.get_sample_value(
        "gen_ai_client_cost_unpriced_total",
        {
            "gen_ai_provider_name": "ollama",
            "gen_ai_request_model": "no-usage",
            "gen_ai_response_model": "no-usage",
            "reason": "missing_usage",
        },
    )
    assert value == 1


def _chunks(count: int, clock: FakeClock, step: float, fail_at: int | None = None) -> Iterator[int]:
    for index in range(count):
        clock.now += step
        if index == fail_at:
            raise ConnectionResetError("peer went away")
        yield index


def _call(registry: CollectorRegistry) -> LLMCall:
    return LLMCall("ollama", "chat", "llama3", registry=registry, price_book=BOOK)


def _read_usage(call: LLMCall, chunk: int) -> None:
    call.output_tokens = chunk + 1
    call.input_tokens = 5


def test_stream_time_to_first_chunk_and_per_chunk(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    """A full stream records time to first chunk and the mean time per later chunk, exactly."""
    call = _call(registry)
    stream = MeasuredStream(_chunks(5, clock, 0.25), call, _read_usage)
    clock.now += 0.5  # the request itself
    assert list(stream) == [0, 1, 2, 3, 4]
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_sum", labels()) == 0.75
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_sum", labels()) == 0.25
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_count", labels()) == 1
    assert get("gen_ai_client_operation_duration_seconds_sum", labels(error_type="")) == 1.75
    assert get("gen_ai_client_tokens_total", labels(gen_ai_token_type="output")) == 5
    assert requests(registry, "success") == 1


def test_stream_stopped_early_is_recorded_as_incomplete(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    """Breaking out of a stream still records the call, as ``incomplete``."""
    call = _call(registry)
    for chunk in MeasuredStream(_chunks(10, clock, 0.1), call, _read_usage):
        if chunk == 2:
            break
    assert requests(registry, "incomplete") == 1
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_count", labels()) == 1
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_count", labels()) is None
    assert get("gen_ai_client_tokens_total", labels(gen_ai_token_type="output")) == 3


def test_stream_dropped_after_next_is_recorded(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    """A stream read with next() and then dropped is recorded when it is released."""
    stream = MeasuredStream(_chunks(10, clock, 0.1), _call(registry), None)
    assert next(stream) == 0
    assert requests(registry, "incomplete") is None
    del stream
    assert requests(registry, "incomplete") == 1


def test_stream_error_midway_is_counted_and_reraised(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    """An error inside the stream propagates and is counted by kind."""
    stream = MeasuredStream(_chunks(10, clock, 0.1, fail_at=3), _call(registry), None)
    seen = []
    with pytest.raises(ConnectionResetError):
        seen.extend(stream)
    assert seen == [0, 1, 2]
    assert requests(registry, "error", "connection") == 1


def test_stream_close_and_context_manager(registry: CollectorRegistry, clock: FakeClock) -> None:
    """close() and ``with`` close the wrapped stream and record the call once."""

    class Closable:
        closed = False

        def __iter__(self) -> Iterator[int]:
            return iter([1, 2, 3])

        def close(self) -> None:
            self.closed = True

    inner = Closable()
    with MeasuredStream(inner, _call(registry), None) as stream:
        assert next(stream) == 1
        assert stream.closed is False  # attributes are delegated
    assert inner.closed
    assert requests(registry, "incomplete") == 1


async def test_async_stream_full_and_early_close(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    """The async wrapper measures a full stream, and an early close as incomplete."""

    class AsyncChunks:
        def __init__(self, count: int) -> None:
            self.count = count
            self.closed = False

        async def _gen(self) -> AsyncIterator[int]:
            for index in range(self.count):
                clock.now += 0.5
                yield index

        def __aiter__(self) -> AsyncIterator[int]:
            return self._gen()

        async def close(self) -> None:
            self.closed = True

    stream = MeasuredAsyncStream(AsyncChunks(3), _call(registry), _read_usage)
    assert [chunk async for chunk in stream] == [0, 1, 2]
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_sum", labels()) == 0.5
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_sum", labels()) == 0.5
    inner = AsyncChunks(3)
    early = MeasuredAsyncStream(inner, _call(registry), None)
    async with early:
        await early.__anext__()
    assert inner.closed
    assert requests(registry, "success") == 1
    assert requests(registry, "incomplete") == 1


def test_broken_chunk_reader_never_breaks_the_stream(registry: CollectorRegistry) -> None:
    """A vigie bug in a chunk reader is swallowed (outside pytest) and chunks keep flowing."""

    def broken(call: LLMCall, chunk: Any) -> None:
        raise RuntimeError("vigie bug")

    with swallowing_internal_errors():
        stream = MeasuredStream(iter([1, 2, 3]), _call(registry), broken)
        assert list(stream) == [1, 2, 3]
    assert requests(registry, "success") == 1


def test_span_factory_hook(registry: CollectorRegistry) -> None:
    """The tracing part can open and finish a span per call through the hook."""
    finished: list[tuple[str, BaseException | None]] = []

    class Span:
        def finish(self, call: LLMCall, error: BaseException | None) -> None:
            finished.append((call.request_model, error))

    set_span_factory(lambda call: Span())
    try:
        with track_llm(provider="ollama", model="llama3", registry=registry, price_book=BOOK):
            pass
    finally:
        set_span_factory(None)
    assert finished == [("llama3", None)]
