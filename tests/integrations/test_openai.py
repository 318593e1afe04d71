"""The real ``openai`` client, instrumented, against the local LLM simulator's wire format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vigie.demo.llm_simulator import Fault, LLMSimulator, Reply, ToolCall
from vigie.integrations.openai import instrument_openai, uninstrument_openai
from vigie.sdk.cost import PriceBook, TokenUsage
from vigie.sdk.failsafe import swallowing_internal_errors

BOOK = PriceBook(second_currency="EUR", exchange_rate=0.5)
USER = [{"role": "user", "content": "a secret prompt about Marie Curie"}]
TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
]


@pytest.fixture
def sim() -> Iterator[LLMSimulator]:
    with LLMSimulator() as simulator:
        yield simulator


@pytest.fixture
def make_client(sim: LLMSimulator) -> Iterator[Callable[..., openai.OpenAI]]:
    """Build real clients on the simulator (max_retries=0 unless told); close them afterwards."""
    made: list[openai.OpenAI] = []

    def make(**options: Any) -> openai.OpenAI:
        settings: dict[str, Any] = {"api_key": "sk-test", "max_retries": 0, "timeout": 5, **options}
        made.append(openai.OpenAI(base_url=sim.openai_base_url, **settings))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., openai.OpenAI], registry: CollectorRegistry) -> openai.OpenAI:
    return instrument_openai(make_client(), registry=registry, price_book=BOOK)


def labels(
    model: str = "gpt-4o", response: str | None = None, operation: str = "chat", **extra: str
) -> dict[str, str]:
    return {
        "gen_ai_operation_name": operation,
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": model,
        "gen_ai_response_model": model if response is None else response,
        **extra,
    }


def outcome(
    registry: CollectorRegistry,
    result: str,
    error: str = "",
    model: str = "gpt-4o",
    operation: str = "chat",
) -> float | None:
    return registry.get_sample_value(
        "gen_ai_client_requests_total",
        {
            "gen_ai_operation_name": operation,
            "gen_ai_provider_name": "openai",
            "gen_ai_request_model": model,
            "outcome": result,
            "error_type": error,
        },
    )


def tokens(registry: CollectorRegistry, kind: str, **label: str) -> float | None:
    return registry.get_sample_value(
        "gen_ai_client_tokens_total", labels(**label, gen_ai_token_type=kind)
    )


def test_chat_completion_usage_cache_reasoning_and_cost(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """A chat completion records tokens (cached, reasoning) and its exact cost in USD and EUR."""
    sim.enqueue(Reply(input_tokens=1000, output_tokens=100, cached_tokens=500, reasoning_tokens=20))
    response = client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert response.choices[0].message.content == "Hello from the vigie simulator."
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_duration_seconds_count", labels(error_type="")) == 1
    assert get("gen_ai_client_token_usage_sum", labels(gen_ai_token_type="input")) == 1000
    assert get("gen_ai_client_token_usage_sum", labels(gen_ai_token_type="output")) == 100
    assert tokens(registry, "cache_read") == 500
    assert tokens(registry, "reasoning") == 20
    # 500*2.5 + 500*1.25 + 100*10 per million
    assert get("gen_ai_client_cost_total", labels(currency="USD")) == pytest.approx(0.002875)
    assert get("gen_ai_client_cost_total", labels(currency="EUR")) == pytest.approx(0.0014375)
    assert outcome(registry, "success") == 1


def test_response_model_label(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """The model that answered is the response-model label; the request model is kept too."""
    sim.enqueue(Reply(model="gpt-4o-2024-08-06"))
    client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    value = registry.get_sample_value(
        "gen_ai_client_tokens_total",
        labels(response="gpt-4o-2024-08-06", gen_ai_token_type="input"),
    )
    assert value == 10


def test_streamed_chat_with_usage(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """A streamed chat records time to first chunk, time per chunk, and the usage chunk."""
    sim.enqueue(Reply(chunks=4, input_tokens=40, output_tokens=12, cached_tokens=8))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    assert isinstance(stream, openai.Stream)  # the measuring proxy still passes for a Stream
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello from the vigie simulator."
    get = registry.get_sample_value
    model = {"model": "gpt-4o-mini"}
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_count", labels(**model)) == 1
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_count", labels(**model)) == 1
    assert tokens(registry, "input", **model) == 40
    assert tokens(registry, "cache_read", **model) == 8
    # 32*0.15 + 8*0.075 + 12*0.6 per million
    assert get("gen_ai_client_cost_total", labels(**model, currency="USD")) == pytest.approx(
        1.26e-05
    )
    assert outcome(registry, "success", model="gpt-4o-mini") == 1


def test_stream_without_usage_is_unpriced(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """Without include_usage the stream has no tokens: counted as unpriced, never as zero cost."""
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)  # type: ignore[arg-type]
    assert len(list(stream)) == 4
    unpriced = {
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-4o",
        "gen_ai_response_model": "gpt-4o",
        "reason": "missing_usage",
    }
    assert registry.get_sample_value("gen_ai_client_cost_unpriced_total", unpriced) == 1
    assert registry.get_sample_value("gen_ai_client_cost_total", labels(currency="USD")) is None


def test_stream_stopped_early(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """A caller that stops reading after one chunk still gets the call recorded (incomplete)."""
    sim.enqueue(Reply(chunks=10))
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)  # type: ignore[arg-type]
    for _chunk in stream:
        break
    stream.close()
    assert outcome(registry, "incomplete") == 1
    get = registry.get_sample_value
    assert get("gen_ai_client_operation_time_to_first_chunk_seconds_count", labels()) == 1
    assert get("gen_ai_client_operation_time_per_output_chunk_seconds_count", labels()) is None


def test_stream_error_midway(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """An error event in the middle of a stream raises the client's APIError, counted by kind."""
    sim.enqueue(Reply(chunks=5, fail_after_chunks=2))
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)  # type: ignore[arg-type]
    received = []
    with pytest.raises(openai.APIError, match="stream interrupted"):
        received.extend(stream)
    assert len(received) == 2
    assert outcome(registry, "error", "server_error") == 1


def test_tool_calls(sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry) -> None:
    """Tool-call responses, plain and streamed, reach the caller intact and are measured."""
    call = ToolCall("get_weather", '{"city": "Paris"}')
    sim.enqueue(
        Reply(tool_calls=(call,), output_tokens=15), Reply(tool_calls=(call,), output_tokens=15)
    )
    response = client.chat.completions.create(model="gpt-4o", messages=USER, tools=TOOLS)  # type: ignore[arg-type]
    tool_call = response.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (tool_call.function.name, tool_call.function.arguments) == (
        "get_weather",
        '{"city": "Paris"}',
    )  # type: ignore[union-attr]
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    names = [
        c.choices[0].delta.tool_calls[0].function.name
        for c in stream
        if c.choices and c.choices[0].delta.tool_calls
    ]  # type: ignore[index,union-attr]
    assert names == ["get_weather"]
    assert tokens(registry, "output") == 30
    assert outcome(registry, "success") == 2


def test_responses_api(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """The Responses API, plain and streamed, records usage with cached and reasoning tokens."""
    reply = Reply(input_tokens=3000, output_tokens=1000, cached_tokens=2000, reasoning_tokens=800)
    sim.enqueue(reply, reply)
    assert (
        client.responses.create(model="gpt-5", input="hi").output_text
        == "Hello from the vigie simulator."
    )
    events = [
        event.type for event in client.responses.create(model="gpt-5", input="hi", stream=True)
    ]
    assert events[0] == "response.created"
    assert events[-1] == "response.completed"
    model = {"model": "gpt-5"}
    assert tokens(registry, "input", **model) == 6000
    assert tokens(registry, "reasoning", **model) == 1600
    assert (
        registry.get_sample_value(
            "gen_ai_client_operation_time_to_first_chunk_seconds_count", labels(**model)
        )
        == 1
    )
    # twice 1000*1.25 + 2000*0.125 + 1000*10 per million
    assert registry.get_sample_value(
        "gen_ai_client_cost_total", labels(**model, currency="USD")
    ) == pytest.approx(0.023)


def test_responses_stream_error_event(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """An ``error`` event in a Responses stream counts the call as failed."""
    sim.enqueue(Reply(fail_after_chunks=1))
    events = [
        event.type for event in client.responses.create(model="gpt-4o", input="hi", stream=True)
    ]
    assert events[-1] == "error"
    assert outcome(registry, "error", "server_error") == 1


def test_embeddings(sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry) -> None:
    """Embeddings record input tokens only, and their cost."""
    sim.enqueue(Reply(input_tokens=5000))
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2
    model = {"model": "text-embedding-3-small", "operation": "embeddings"}
    assert tokens(registry, "input", **model) == 5000
    assert tokens(registry, "output", **model) is None
    value = registry.get_sample_value("gen_ai_client_cost_total", labels(**model, currency="USD"))
    assert value == pytest.approx(0.0001)  # 5000 * $0.02 per million


@pytest.mark.parametrize(
    ("fault", "exception", "kind"),
    [
        (Fault(status=401, message="bad key"), openai.AuthenticationError, "authentication"),
        (Fault(status=429, retry_after=2), openai.RateLimitError, "rate_limit"),
        (Fault(status=500), openai.InternalServerError, "server_error"),
        (Fault(status=400), openai.BadRequestError, "bad_request"),
        (Fault(hang=3), openai.APITimeoutError, "timeout"),
        (Fault(malformed=True), ValueError, "invalid_response"),
    ],
)
def test_errors_are_counted_and_reraised(
    sim: LLMSimulator,
    make_client: Callable[..., openai.OpenAI],
    registry: CollectorRegistry,
    fault: Fault,
    exception: type[BaseException],
    kind: str,
) -> None:
    """Each client error reaches the caller as the client raised it, counted by error_type."""
    client = instrument_openai(make_client(timeout=0.3), registry=registry, price_book=BOOK)
    sim.enqueue(fault)
    with pytest.raises(exception) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    if fault.retry_after is not None:
        assert caught.value.response.headers["retry-after"] == "2"  # type: ignore[attr-defined]
    assert outcome(registry, "error", kind) == 1
    count = registry.get_sample_value(
        "gen_ai_client_operation_duration_seconds_count", labels(response="", error_type=kind)
    )
    assert count == 1


def test_retries_inside_one_call(
    sim: LLMSimulator, make_client: Callable[..., openai.OpenAI], registry: CollectorRegistry
) -> None:
    """Client retries stay inside one measured call: one success, two requests on the wire."""
    client = instrument_openai(make_client(max_retries=1), registry=registry, price_book=BOOK)
    sim.enqueue(Fault(status=429, retry_after=0))
    client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert len(sim.requests) == 2
    assert outcome(registry, "success") == 1
    assert outcome(registry, "error", "rate_limit") is None


async def test_async_client(sim: LLMSimulator, registry: CollectorRegistry) -> None:
    """AsyncOpenAI is measured the same way, plain and streamed."""
    async with openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as raw:
        await _exercise_async(
            sim, instrument_openai(raw, registry=registry, price_book=BOOK), registry
        )


async def _exercise_async(
    sim: LLMSimulator, client: openai.AsyncOpenAI, registry: CollectorRegistry
) -> None:
    sim.enqueue(
        Reply(input_tokens=100, output_tokens=10), Reply(input_tokens=100, output_tokens=10)
    )
    await client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    assert len([chunk async for chunk in stream]) == 5
    assert tokens(registry, "input") == 200
    assert outcome(registry, "success") == 2
    assert (
        registry.get_sample_value(
            "gen_ai_client_operation_time_to_first_chunk_seconds_count", labels()
        )
        == 1
    )
    sim.enqueue(Fault(status=429))
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert outcome(registry, "error", "rate_limit") == 1


def test_only_the_given_client_is_patched(
    make_client: Callable[..., openai.OpenAI], client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """Instrumenting twice counts once; other clients and the library stay untouched; undo works."""
    instrument_openai(client, registry=registry, price_book=BOOK)
    other = make_client()
    other.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert outcome(registry, "success") == 1
    uninstrument_openai(client)
    client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert outcome(registry, "success") == 1
    assert "create" not in vars(client.chat.completions)


def test_with_options_copies_stay_instrumented(
    client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """``client.with_options(...)`` returns a client that is measured too."""
    client.with_options(timeout=2).chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    client.copy(max_retries=0).embeddings.create(model="text-embedding-3-small", input="a")
    assert outcome(registry, "success") == 1
    assert outcome(registry, "success", model="text-embedding-3-small", operation="embeddings") == 1


def test_no_prompt_or_completion_text_is_recorded(
    sim: LLMSimulator, client: openai.OpenAI, registry: CollectorRegistry
) -> None:
    """Neither the prompt nor the answer appears anywhere in the exposed metrics."""
    sim.enqueue(Reply(text="the confidential answer"))
    client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    exposed = generate_latest(registry).decode()
    assert "Marie Curie" not in exposed
    assert "confidential" not in exposed


def test_vigie_bug_never_breaks_the_call(
    make_client: Callable[..., openai.OpenAI], registry: CollectorRegistry
) -> None:
    """An internal error while recording is swallowed: the caller gets the response."""

    class BrokenBook(PriceBook):
        def cost_usd(self, provider: str, model: str, usage: TokenUsage) -> float | None:
            raise RuntimeError("vigie bug")

    broken = BrokenBook(second_currency="EUR", exchange_rate=1)
    client = instrument_openai(make_client(), registry=registry, price_book=broken)
    with swallowing_internal_errors():
        response = client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert response.choices[0].message.content == "Hello from the vigie simulator."
    assert outcome(registry, "success") == 1
