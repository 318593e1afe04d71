"""Measure the official ``openai`` client: chat completions, the Responses API and embeddings.

``instrument_openai(client)`` patches the ``create`` methods of *this* client instance (sync or
async), never the library: other clients stay untouched and ``uninstrument_openai`` undoes it.
Streams are measured too (time to first chunk, time per output chunk); pass
``stream_options={"include_usage": True}`` to chat completions so that OpenAI sends the usage of
a stream — without it, the call is counted in ``gen_ai_client_cost_unpriced_total``. Prompt and
completion text are never read. Errors are counted by kind and re-raised untouched.

Example::

    import openai, vigie

    client = vigie.instrument_openai(openai.OpenAI())
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from vigie.sdk.cost import PriceBook
from vigie.sdk.genai import LLMCall, instrument_copies, instrument_method

__all__ = ["instrument_openai", "uninstrument_openai"]

_Client = TypeVar("_Client")
_PROVIDER = "openai"


def _details(usage: Any, field: str, count: str) -> int:
    details = getattr(usage, field, None)
    value = getattr(details, count, None) if details is not None else None
    return value or 0


def _chat_usage(call: LLMCall, usage: Any) -> None:
    call.set_usage(
        usage.prompt_tokens,
        usage.completion_tokens,
        cache_read_tokens=_details(usage, "prompt_tokens_details", "cached_tokens"),
        reasoning_tokens=_details(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def _chat_response(call: LLMCall, response: Any) -> None:
    call.response_model = response.model or ""
    if response.usage is not None:
        _chat_usage(call, response.usage)


def _chat_chunk(call: LLMCall, chunk: Any) -> None:
    if not call.response_model:
        call.response_model = chunk.model or ""
    usage = chunk.usage
    if usage is not None:
        _chat_usage(call, usage)


def _responses_response(call: LLMCall, response: Any) -> None:
    call.response_model = response.model or ""
    usage = response.usage
    if usage is not None:
        call.set_usage(
            usage.input_tokens,
            usage.output_tokens,
            cache_read_tokens=_details(usage, "input_tokens_details", "cached_tokens"),
            reasoning_tokens=_details(usage, "output_tokens_details", "reasoning_tokens"),
        )
    if getattr(response, "status", None) == "failed":
        call.fail("response_failed")


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _responses_event(call: LLMCall, event: Any) -> None:
    kind = event.type
    if kind in _FINAL_EVENTS:
        _responses_response(call, event.response)
    elif kind == "error":
        call.fail(getattr(event, "code", None) or "stream_error")


def _embeddings_response(call: LLMCall, response: Any) -> None:
    call.response_model = response.model or ""
    if response.usage is not None:
        call.set_usage(response.usage.prompt_tokens, None)


def instrument_openai(
    client: _Client,
    *,
    registry: CollectorRegistry | None = None,
    price_book: PriceBook | None = None,
) -> _Client:
    """Measure every ``chat.completions``, ``responses`` and ``embeddings`` call of ``client``.

    Works with ``openai.OpenAI``, ``openai.AsyncOpenAI`` and the Azure clients; calling it twice is
    harmless. Returns the client, so ``client = instrument_openai(OpenAI())`` reads naturally.
    """
    targets = (
        ("chat", "completions", "chat", _chat_response, _chat_chunk),
        ("responses", None, "chat", _responses_response, _responses_event),
        ("embeddings", None, "embeddings", _embeddings_response, None),
    )
    for first, second, operation, on_response, on_chunk in targets:
        resource = getattr(client, first, None)
        if resource is not None and second is not None:
            resource = getattr(resource, second, None)
        if resource is None or not hasattr(resource, "create"):
            continue  # an older client without this API
        instrument_method(
            resource,
            "create",
            provider=_PROVIDER,
            operation=operation,
            on_response=on_response,
            on_chunk=on_chunk,
            registry=registry,
            price_book=price_book,
        )
    instrument_copies(
        client, lambda copy: instrument_openai(copy, registry=registry, price_book=price_book)
    )
    return client


def uninstrument_openai(client: Any) -> None:
    """Remove what :func:`instrument_openai` added to ``client``."""
    for resource in (client.chat.completions, client.responses, client.embeddings):
        if "create" in vars(resource):
            del resource.create
    for name in ("copy", "with_options"):
        if name in vars(client):
            delattr(client, name)
