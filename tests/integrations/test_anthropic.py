"""The real ``anthropic`` client, instrumented, against the local LLM simulator's wire format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vigie.demo.llm_simulator import Fault, LLMSimulator, Reply
from vigie.integrations.anthropic import instrument_anthropic, uninstrument_anthropic
from vigie.sdk.cost import PriceBook

BOOK = PriceBook(second_currency="EUR", exchange_rate=0.5)
HAIKU = "claude-haiku-4-5-20251001"  # $1 in, $0.1 cache read, $1.25 / $2 cache write, $5 out
USER: Any = [{"role": "user", "content": "a secret prompt about Ada Lovelace"}]


@pytest.fixture
def sim() -> Iterator[LLMSimulator]:
    with LLMSimulator() as simulator:
        yield simulator


@pytest.fixture
def make_client(sim: LLMSimulator) -> Iterator[Callable[..., anthropic.Anthropic]]:
    """Build real clients on the simulator (max_retries=0); close them afterwards."""
    made: list[anthropic.Anthropic] = []

    def make(**options: Any) -> anthropic.Anthropic:
        settings: dict[str, Any] = {"api_key": "sk-test", "max_retries": 0, "timeout": 5, **options}
        made.append(anthropic.Anthropic(base_url=sim.anthropic_base_url, **settings))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(
    make_client: Callable[..., anthropic.Anthropic], registry: CollectorRegistry
) -> anthropic.Anthropic:
    return instrument_anthropic(make_client(), registry=registry, price_book=BOOK)


def labels(model: str = HAIKU, response: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "anthropic",
        "gen_ai_request_model": model,
        "gen_ai_response_model": model if response is None else response,
        **extra,
    }


def outcome(registry: CollectorRegistry, result: str, error: str = "") -> float | None:
    return registry.get_sample_value(
        "gen_ai_client_requests_total",
        {
            "gen_ai_operation_name": "chat",
            "gen_ai_provider_name": "anthropic",
            "gen_ai_request_model": HAIKU,
            "outcome": result,
            "error_type": error,
        },
    )


def tokens(registry: CollectorRegistry, kind: str) -> float | None:
    return registry.get_sample_value("gen_ai_client_tokens_total", labels(gen_ai_token_type=kind))


CACHED = Reply(
    input_tokens=100,
    output_tokens=50,
    cached_tokens=1000,
    cache_creation_tokens=200,
    cache_creation_1h_tokens=50,
)


def test_message_with_cache_reads_and_writes(
    sim: LLMSimulator, client: anthropic.Anthropic, registry: CollectorRegistry
) -> None:
    """Cached parts are added to input and each is billed at its own price."""
    sim.enqueue(CACHED)
    message = client.messages.create(model=HAIKU, max_tokens=64, messages=USER)
    assert message.content[0].text == "Hello from the vigie simulator."  # type: ignore[union-attr]
    get = registry.get_sample_value
    assert get("gen_ai_client_token_usage_sum", labels(gen_ai_token_type="input")) == 1300
    assert get("gen_ai_client_token_usage_sum", labels(gen_ai_token_type="output")) == 50
    assert tokens(registry, "cache_read") == 1000
    assert tokens(registry, "cache_creation") == 200
    # 100*1 + 1000*0.1 + 150*1.25 + 50*2 (1-hour write) + 50*5, per million
    assert get("gen_ai_client_cost_total", labels(currency="USD")) == pytest.approx(0.0007375)
    assert get("gen_ai_client_cost_total", labels(currency="EUR")) == pytest.approx(0.00036875)
    assert outcome(registry, "success") == 1


def test_raw_stream(
    sim: LLMSimulator, client: anthropic.Anthropic, registry: CollectorRegistry
) -> None:
    """``stream=True`` events give time to first chunk, per-chunk time, and the final usage."""
    sim.enqueue(Reply(chunks=4, input_tokens=20, output_tokens=33, cached_tokens=10))
    events = [
        e.type
        for e in client.messages.create(model=HAIKU, max_tokens=64, messages=USER, stream=True)
    ]
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_count", labels()) == 1
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_count", labels()) == 1
    assert tokens(registry, "input") == 30
    assert tokens(registry, "output") == 33
    # 20*1 + 10*0.1 + 33*5 per million
    assert get("gen_ai_client_cost_total", labels(currency="USD")) == pytest.approx(0.000186)


def test_stream_helper(
    sim: LLMSimulator, client: anthropic.Anthropic, registry: CollectorRegistry
) -> None:
    """``messages.stream()`` is measured, whether read to the end or left early."""
    sim.enqueue(Reply(input_tokens=7, output_tokens=9), Reply(chunks=6))
    with client.messages.stream(model=HAIKU, max_tokens=64, messages=USER) as stream:
        assert stream.get_final_text() == "Hello from the vigie simulator."
    assert outcome(registry, "success") == 1
    assert tokens(registry, "output") == 9
    with client.messages.stream(model=HAIKU, max_tokens=64, messages=USER) as stream:
        next(iter(stream))
    assert outcome(registry, "incomplete") == 1


def test_stream_error_event(
    sim: LLMSimulator, client: anthropic.Anthropic, registry: CollectorRegistry
) -> None:
    """An ``overloaded_error`` event mid-stream raises the client's error, counted as overloaded."""
    sim.enqueue(Reply(chunks=5, fail_after_chunks=2))
    stream = client.messages.create(model=HAIKU, max_tokens=64, messages=USER, stream=True)
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        for _event in stream:
            pass
    assert outcome(registry, "error", "overloaded") == 1


@pytest.mark.parametrize(
    ("fault", "exception", "kind"),
    [
        (Fault(status=401), anthropic.AuthenticationError, "authentication"),
        (Fault(status=429, retry_after=30), anthropic.RateLimitError, "rate_limit"),
        (Fault(status=500), anthropic.InternalServerError, "server_error"),
        (Fault(status=529), anthropic.InternalServerError, "overloaded"),
        (Fault(hang=3), anthropic.APITimeoutError, "timeout"),
        (Fault(malformed=True), ValueError, "invalid_response"),
    ],
)
def test_errors_are_counted_and_reraised(
    sim: LLMSimulator,
    make_client: Callable[..., anthropic.Anthropic],
    registry: CollectorRegistry,
    fault: Fault,
    exception: type[BaseException],
    kind: str,
) -> None:
    """Each client error reaches the caller as the client raised it, counted by error_type."""
    client = instrument_anthropic(make_client(timeout=0.3), registry=registry, price_book=BOOK)
    sim.enqueue(fault)
    with pytest.raises(exception) as caught:
        client.messages.create(model=HAIKU, max_tokens=64, messages=USER)
    if fault.retry_after is not None:
        assert caught.value.response.headers["retry-after"] == "30"  # type: ignore[attr-defined]
    assert outcome(registry, "error", kind) == 1


async def test_async_client(sim: LLMSimulator, registry: CollectorRegistry) -> None:
    """AsyncAnthropic: create and the async stream helper are measured."""
    sim.enqueue(CACHED, Reply(input_tokens=5, output_tokens=5))
    async with anthropic.AsyncAnthropic(
        base_url=sim.anthropic_base_url, api_key="sk", max_retries=0
    ) as raw:
        client = instrument_anthropic(raw, registry=registry, price_book=BOOK)
        await client.messages.create(model=HAIKU, max_tokens=64, messages=USER)
        async with client.messages.stream(model=HAIKU, max_tokens=64, messages=USER) as stream:
            assert await stream.get_final_text() == "Hello from the vigie simulator."
    assert outcome(registry, "success") == 2
    assert tokens(registry, "input") == 1305
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_count", labels()) == 1


def test_uninstrument_and_privacy(
    sim: LLMSimulator, client: anthropic.Anthropic, registry: CollectorRegistry
) -> None:
    """No prompt text is exposed; copies are measured; uninstrumenting stops the measurement."""
    client.with_options(timeout=2).messages.create(model=HAIKU, max_tokens=64, messages=USER)
    assert "Lovelace" not in generate_latest(registry).decode()
    uninstrument_anthropic(client)
    client.messages.create(model=HAIKU, max_tokens=64, messages=USER)
    assert outcome(registry, "success") == 1
