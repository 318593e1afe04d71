"""Measure the official ``anthropic`` client: ``messages.create`` (streamed or not), ``.stream``.

``instrument_anthropic(client)`` patches the methods of *this* client instance (sync or async),
never the library. Anthropic reports ``input_tokens`` without the cached part; vigie adds
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` back so that
``gen_ai_client_token_usage{gen_ai_token_type="input"}`` means the whole prompt, as in
OpenTelemetry, and bills each part at its own price (cache reads 0.1x, 5-minute writes 1.25x,
1-hour writes 2x).
Prompt and completion text are never read.

Example::

    import anthropic, vigie

    client = vigie.instrument_anthropic(anthropic.Anthropic())
    client.messages.create(model="claude-sonnet-4-20250514", max_tokens=256,
                           messages=[{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

import functools
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from vigie.sdk.cost import PriceBook, anthropic_usage
from vigie.sdk.failsafe import guard
from vigie.sdk.genai import (
    LLMCall,
    MeasuredAsyncStream,
    MeasuredStream,
    instrument_copies,
    instrument_method,
)

__all__ = ["instrument_anthropic", "uninstrument_anthropic"]

_Client = TypeVar("_Client")
_PROVIDER = "anthropic"


def _usage(call: LLMCall, usage: Any) -> None:
    creation = getattr(usage, "cache_creation", None)
    call.set_token_usage(
        anthropic_usage(
            usage.input_tokens or 0,
            usage.output_tokens or 0,
            getattr(usage, "cache_read_input_tokens", None) or 0,
            getattr(usage, "cache_creation_input_tokens", None) or 0,
            (getattr(creation, "ephemeral_1h_input_tokens", None) or 0) if creation else 0,
        )
    )


def _message(call: LLMCall, message: Any) -> None:
    call.response_model = message.model or ""
    if message.usage is not None:
        _usage(call, message.usage)


def _event(call: LLMCall, event: Any) -> None:
    kind = event.type
    if kind == "message_start":
        _message(call, event.message)
    elif kind == "message_delta":
        usage = event.usage
        if getattr(usage, "input_tokens", None) is not None:
            _usage(call, usage)  # newer API versions repeat the whole, final usage here
        else:
            call.output_tokens = usage.output_tokens


class _StreamManager:
    """Wraps the manager ``messages.stream()`` returns; measures from ``__enter__`` on."""

    def __init__(self, manager: Any, call: LLMCall) -> None:
        self._manager = manager
        self._call = call

    def __enter__(self) -> Any:
        self._call.start = perf_counter()
        try:
            stream = self._manager.__enter__()
        except BaseException as error:
            self._call.finish(error)
            raise
        with guard("anthropic message stream"):
            stream._raw_stream = MeasuredStream(stream._raw_stream, self._call, _event)
        return stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        result = self._manager.__exit__(exc_type, exc, tb)
        self._call.finish(exc, complete=False)
        return result

    async def __aenter__(self) -> Any:
        self._call.start = perf_counter()
        try:
            stream = await self._manager.__aenter__()
        except BaseException as error:
            self._call.finish(error)
            raise
        with guard("anthropic message stream"):
            stream._raw_stream = MeasuredAsyncStream(stream._raw_stream, self._call, _event)
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        result = await self._manager.__aexit__(exc_type, exc, tb)
        self._call.finish(exc, complete=False)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


def _instrument_stream_helper(
    messages: Any, registry: CollectorRegistry | None, price_book: PriceBook | None
) -> None:
    original = getattr(messages, "stream", None)
    if original is None or getattr(original, "__vigie_wrapped__", False):
        return

    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        call = None
        with guard("anthropic stream helper"):
            model = kwargs.get("model")
            call = LLMCall(
                _PROVIDER,
                "chat",
                model if isinstance(model, str) else "",
                registry=registry,
                price_book=price_book,
            )
        return manager if call is None else _StreamManager(manager, call)

    stream.__vigie_wrapped__ = True  # type: ignore[attr-defined]
    messages.stream = stream


def instrument_anthropic(
    client: _Client,
    *,
    registry: CollectorRegistry | None = None,
    price_book: PriceBook | None = None,
) -> _Client:
    """Measure every ``messages.create`` and ``messages.stream`` call of ``client``.

    Works with ``anthropic.Anthropic`` and ``anthropic.AsyncAnthropic``; calling it twice is
    harmless. Returns the client.
    """
    messages = client.messages  # type: ignore[attr-defined]
    instrument_method(
        messages,
        "create",
        provider=_PROVIDER,
        operation="chat",
        on_response=_message,
        on_chunk=_event,
        registry=registry,
        price_book=price_book,
    )
    _instrument_stream_helper(messages, registry, price_book)
    instrument_copies(
        client, lambda copy: instrument_anthropic(copy, registry=registry, price_book=price_book)
    )
    return client


def uninstrument_anthropic(client: Any) -> None:
    """Remove what :func:`instrument_anthropic` added to ``client``."""
    for name in ("create", "stream"):
        if name in vars(client.messages):
            delattr(client.messages, name)
    for name in ("copy", "with_options"):
        if name in vars(client):
            delattr(client, name)
