"""LLM call metrics, named as the OpenTelemetry GenAI semantic conventions are in Prometheus.

One :class:`LLMCall` is opened per request to a model and finished once, with its usage or its
error; finishing records everything: duration, token usage, cached and reasoning tokens, cost in
USD and a second currency, and for streams the time to first chunk and time per output chunk.
Client adapters (:mod:`vigie.integrations.openai`, ``anthropic``) and :func:`track_llm` (for
anything else: local models, LiteLLM, raw HTTP) all go through it. Prompt and completion text are
never read.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> with track_llm(provider="ollama", model="llama3", registry=registry) as call:
    ...     call.set_usage(input_tokens=12, output_tokens=30)
    >>> registry.get_sample_value("gen_ai_client_token_usage_sum", {
    ...     "gen_ai_operation_name": "chat", "gen_ai_provider_name": "ollama",
    ...     "gen_ai_request_model": "llama3", "gen_ai_response_model": "llama3",
    ...     "gen_ai_token_type": "output"})
    30.0
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from time import perf_counter
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from vigie.sdk import instruments
from vigie.sdk.cost import PriceBook, TokenUsage, default_price_book
from vigie.sdk.failsafe import guard
from vigie.sdk.timed_scope import TimedScope

__all__ = [
    "CHUNK_BUCKETS",
    "DURATION_BUCKETS",
    "FIRST_CHUNK_BUCKETS",
    "TOKEN_BUCKETS",
    "GenAISpan",
    "LLMCall",
    "LLMTracker",
    "MeasuredAsyncStream",
    "MeasuredStream",
    "error_type",
    "instrument_copies",
    "instrument_method",
    "set_span_factory",
    "track_llm",
]

logger = logging.getLogger("vigie")

# Bucket boundaries from the OpenTelemetry GenAI metrics specification.
DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
FIRST_CHUNK_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)

_CALL_LABELS = (
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
)

# Exception class name (anywhere in the MRO, most specific first) -> error_type label value. Names,
# not classes, so that the core imports no client library.
_ERROR_TYPES: dict[str, str] = {
    "RateLimitError": "rate_limit",
    "APITimeoutError": "timeout",
    "TimeoutException": "timeout",
    "TimeoutError": "timeout",
    "AuthenticationError": "authentication",
    "PermissionDeniedError": "permission_denied",
    "BadRequestError": "bad_request",
    "UnprocessableEntityError": "bad_request",
    "NotFoundError": "not_found",
    "ConflictError": "conflict",
    "OverloadedError": "overloaded",
    "InternalServerError": "server_error",
    "APIConnectionError": "connection",
    "ConnectError": "connection",
    "ConnectionError": "connection",
    "APIResponseValidationError": "invalid_response",
    "JSONDecodeError": "invalid_response",
    "CancelledError": "cancelled",
}


# Error kinds named in a provider's error body (Anthropic stream "error" events, OpenAI errors).
_BODY_ERROR_TYPES: dict[str, str] = {
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate_limit",
    "api_error": "server_error",
    "server_error": "server_error",
    "authentication_error": "authentication",
    "invalid_request_error": "bad_request",
}


def error_type(error: BaseException) -> str:
    """The ``error_type`` label for ``error``: a stable kind, else the exception class name.

    >>> error_type(TimeoutError())
    'timeout'
    >>> error_type(KeyError("x"))
    'KeyError'
    """
    for cls in type(error).__mro__:
        kind = _ERROR_TYPES.get(cls.__name__)
        if kind is not None:
            return kind
    body = getattr(error, "body", None)
    if isinstance(body, dict):  # an error event inside a stream: the provider names its kind
        detail = body.get("error", body)
        provider_kind = detail.get("type") if isinstance(detail, dict) else None
        if provider_kind in _BODY_ERROR_TYPES:
            return _BODY_ERROR_TYPES[provider_kind]
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and status >= 400:
        if status >= 500:
            return "server_error"
        if status == 429:
            return "rate_limit"
        if status >= 400:
            return f"http_{status}"
    return type(error).__qualname__


class GenAISpan(Protocol):
    """A client span opened for one LLM call by the tracing part (see :func:`set_span_factory`)."""

    def finish(self, call: LLMCall, error: BaseException | None) -> None:
        """End the span; ``call`` carries the usage, models and timings."""


# HOOK POINT for vigie.sdk.tracing: GenAI client spans. None while tracing is not configured.
_span_factory: list[Callable[[LLMCall], GenAISpan | None] | None] = [None]


def set_span_factory(factory: Callable[[LLMCall], GenAISpan | None] | None) -> None:
    """Let the tracing part open a span per LLM call (``None`` turns it off)."""
    _span_factory[0] = factory


class _Metrics:
    """The GenAI metric families of one registry, with a cache of label-bound children."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.duration = instruments.histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration (OpenTelemetry gen_ai.client.operation.duration).",
            [*_CALL_LABELS, "error_type"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.token_usage = instruments.histogram(
            "gen_ai_client_token_usage",
            "Tokens used per operation (OpenTelemetry gen_ai.client.token.usage).",
            [*_CALL_LABELS, "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.first_chunk = instruments.histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time from request to the first streamed chunk.",
            list(_CALL_LABELS),
            buckets=FIRST_CHUNK_BUCKETS,
            registry=r,
        )
        self.per_chunk = instruments.histogram(
            "gen_ai_client_operation_time_per_output_chunk_seconds",
            "Mean time between streamed chunks after the first, one observation per stream.",
            list(_CALL_LABELS),
            buckets=CHUNK_BUCKETS,
            registry=r,
        )
        self.requests = instruments.counter(
            "gen_ai_client_requests",
            "GenAI operations by outcome (success, error, incomplete).",
            [
                "gen_ai_operation_name",
                "gen_ai_provider_name",
                "gen_ai_request_model",
                "outcome",
                "error_type",
            ],
            registry=r,
        )
        self.tokens = instruments.counter(
            "gen_ai_client_tokens",
            "Tokens by type: input, output, cache_read, cache_creation, reasoning.",
            [*_CALL_LABELS, "gen_ai_token_type"],
            registry=r,
        )
        self.cost = instruments.counter(
            "gen_ai_client_cost",
            "Money spent on GenAI operations, from provider-reported usage and genai-prices.",
            [*_CALL_LABELS, "currency"],
            registry=r,
        )
        self.unpriced = instruments.counter(
            "gen_ai_client_cost_unpriced",
            "Operations whose cost is unknown (unknown_model, missing_usage, invalid_usage).",
            ["gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model", "reason"],
            registry=r,
        )
        # Label-bound children, cached: prometheus-client's labels() costs a lock and a few
        # allocations, too much for every call.
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, family: Counter | Histogram, *labels: str) -> Any:
        """``family.labels(*labels)``, cached per (family, labels)."""
        key = (family._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, family.labels(*labels))
        return child


_unpriced_logged: set[tuple[str, str, str]] = set()
_metrics = instruments.PerRegistry(_Metrics)


class LLMCall:
    """One request to a model, from start to finish; record usage on it, then :meth:`finish`.

    Adapters create it right before calling the client; :func:`track_llm` yields it to the user.
    """

    __slots__ = (
        "cache_read_tokens",
        "cache_write_1h_tokens",
        "cache_write_tokens",
        "chunks",
        "failure",
        "finished",
        "first_chunk_at",
        "input_tokens",
        "operation",
        "output_tokens",
        "price_book",
        "provider",
        "reasoning_tokens",
        "registry",
        "request_model",
        "response_model",
        "span",
        "start",
    )

    def __init__(
        self,
        provider: str,
        operation: str,
        request_model: str,
        *,
        registry: CollectorRegistry | None = None,
        price_book: PriceBook | None = None,
    ) -> None:
        self.provider = provider
        self.operation = operation
        self.request_model = request_model
        self.response_model = ""
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.cache_write_1h_tokens = 0
        self.reasoning_tokens = 0
        self.chunks = 0
        self.failure = ""
        self.first_chunk_at = 0.0
        self.finished = False
        self.registry = registry
        self.price_book = price_book
        factory = _span_factory[0]
        self.span: GenAISpan | None = None
        if factory is not None:
            with guard("genai span start"):
                self.span = factory(self)
        self.start = perf_counter()

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        """Report usage as OpenTelemetry counts it: input includes cached, output reasoning."""
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_tokens = cache_read_tokens
        self.cache_write_tokens = cache_write_tokens
        self.cache_write_1h_tokens = cache_write_1h_tokens
        self.reasoning_tokens = reasoning_tokens

    def set_token_usage(self, usage: TokenUsage) -> None:
        """Report a normalized :class:`~vigie.sdk.cost.TokenUsage` (from ``openai_usage`` etc.)."""
        self.set_usage(
            usage.input_tokens,
            usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            reasoning_tokens=usage.reasoning_tokens,
        )

    def set_response_model(self, model: str) -> None:
        """The model that actually answered (may differ from the requested one)."""
        self.response_model = model

    def fail(self, kind: str) -> None:
        """Mark the call failed as ``kind`` without an exception (a stream's error event)."""
        self.failure = kind

    def chunk(self) -> None:
        """Mark one streamed chunk received (stream helpers do this for you)."""
        if self.chunks == 0:
            self.first_chunk_at = perf_counter()
        self.chunks += 1

    def finish(self, error: BaseException | None = None, *, complete: bool = True) -> None:
        """Record the call once; ``complete=False`` marks a stream the caller stopped early."""
        if self.finished:
            return
        self.finished = True
        end = perf_counter()
        with guard("genai metrics"):
            self._record(end, error, complete)
        if self.span is not None:
            with guard("genai span finish"):
                self.span.finish(self, error)

    def _record(self, end: float, error: BaseException | None, complete: bool) -> None:
        metrics = _metrics(self.registry)
        response_model = self.response_model or (self.request_model if error is None else "")
        labels = (self.operation, self.provider, self.request_model, response_model)
        kind = self.failure if error is None else error_type(error)
        outcome = "error" if kind else ("success" if complete else "incomplete")
        metrics.child(metrics.duration, *labels, kind).observe(end - self.start)
        metrics.child(
            metrics.requests, self.operation, self.provider, self.request_model, outcome, kind
        ).inc()
        if self.chunks:
            metrics.child(metrics.first_chunk, *labels).observe(self.first_chunk_at - self.start)
            if self.chunks > 1 and not kind and complete:
                per_chunk = (end - self.first_chunk_at) / (self.chunks - 1)
                metrics.child(metrics.per_chunk, *labels).observe(per_chunk)
        if self.input_tokens is None and self.output_tokens is None:
            if not kind:
                self._unpriced(metrics, response_model, "missing_usage")
            return
        for token_type, count in (("input", self.input_tokens), ("output", self.output_tokens)):
            if count is not None:
                metrics.child(metrics.token_usage, *labels, token_type).observe(count)
                metrics.child(metrics.tokens, *labels, token_type).inc(count)
        for token_type, extra in (
            ("cache_read", self.cache_read_tokens),
            ("cache_creation", self.cache_write_tokens),
            ("reasoning", self.reasoning_tokens),
        ):
            if extra:
                metrics.child(metrics.tokens, *labels, token_type).inc(extra)
        self._cost(metrics, labels, response_model)

    def _cost(self, metrics: _Metrics, labels: tuple[str, ...], response_model: str) -> None:
        book = self.price_book or default_price_book()
        usage = TokenUsage(
            self.input_tokens or 0,
            self.output_tokens or 0,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.cache_write_1h_tokens,
            self.reasoning_tokens,
        )
        try:
            usd = book.cost_usd(self.provider, response_model or self.request_model, usage)
            if usd is None and response_model and response_model != self.request_model:
                usd = book.cost_usd(self.provider, self.request_model, usage)
        except ValueError:
            self._unpriced(metrics, response_model, "invalid_usage")
            return
        if usd is None:
            self._unpriced(metrics, response_model, "unknown_model")
            return
        metrics.child(metrics.cost, *labels, "USD").inc(usd)
        second = metrics.child(metrics.cost, *labels, book.second_currency)
        second.inc(book.to_second_currency(usd))

    def _unpriced(self, metrics: _Metrics, response_model: str, reason: str) -> None:
        metrics.unpriced.labels(self.provider, self.request_model, response_model, reason).inc()
        key = (self.provider, self.request_model, reason)
        if key not in _unpriced_logged:
            _unpriced_logged.add(key)
            logger.warning(
                "vigie: no cost for %s model %r (%s); counted in "
                "gen_ai_client_cost_unpriced_total. Give it a price with PriceBook.set_price.",
                self.provider,
                self.request_model,
                reason,
            )


_P = ParamSpec("_P")
_R = TypeVar("_R")


class LLMTracker(TimedScope[LLMCall]):
    """Context manager (sync or async) and decorator returned by :func:`track_llm`."""

    def __init__(
        self,
        provider: str,
        model: str,
        operation: str,
        registry: CollectorRegistry | None,
        price_book: PriceBook | None,
        usage_from: Callable[[Any], Mapping[str, int] | None] | None,
    ) -> None:
        self._args = (provider, operation, model)
        self._registry = registry
        self._price_book = price_book
        self._usage_from = usage_from
        self._call: LLMCall | None = None

    def _open(self) -> LLMCall:
        provider, operation, model = self._args
        self._call = LLMCall(
            provider, operation, model, registry=self._registry, price_book=self._price_book
        )
        return self._call

    def _close(self, error: BaseException | None) -> None:
        if self._call is not None:
            self._call.finish(error)

    def _fresh(self) -> LLMTracker:
        provider, operation, model = self._args
        return LLMTracker(
            provider, model, operation, self._registry, self._price_book, self._usage_from
        )

    def _report(self, call: LLMCall, result: Any) -> None:
        if self._usage_from is None:
            return
        with guard("track_llm usage_from"):
            usage = self._usage_from(result)
            if usage is not None:
                call.set_usage(**usage)

    def __call__(self, function: Callable[_P, _R]) -> Callable[_P, _R]:
        """Decorate a function (sync or async): each call is one tracked LLM operation."""
        if inspect.iscoroutinefunction(function):
            return self._decorate_async(function)  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self._fresh() as call:
                result = function(*args, **kwargs)
                self._report(call, result)
                return result

        return wrapper

    def _decorate_async(
        self, function: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            async with self._fresh() as call:
                result = await function(*args, **kwargs)
                self._report(call, result)
                return result

        return wrapper


def track_llm(
    *,
    provider: str,
    model: str,
    operation: str = "chat",
    registry: CollectorRegistry | None = None,
    price_book: PriceBook | None = None,
    usage_from: Callable[[Any], Mapping[str, int] | None] | None = None,
) -> LLMTracker:
    """Track one LLM call made without a supported client: local models, LiteLLM, raw HTTP.

    ``provider`` is an OpenTelemetry ``gen_ai.provider.name`` (``openai``, ``anthropic``,
    ``aws.bedrock``, ``ollama``...) and ``operation`` a ``gen_ai.operation.name`` (``chat``,
    ``embeddings``, ``text_completion``...). Report tokens with ``call.set_usage(...)``; as a
    decorator, ``usage_from(result)`` may return the :meth:`LLMCall.set_usage` arguments. Exceptions
    are counted by ``error_type`` and re-raised untouched.

    Example::

        @vigie.track_llm(provider="ollama", model="llama3",
                         usage_from=lambda r: {"input_tokens": r["prompt_eval_count"],
                                               "output_tokens": r["eval_count"]})
        def ask(prompt: str) -> dict: ...
    """
    return LLMTracker(provider, model, operation, registry, price_book, usage_from)


# Called with each chunk to pick usage and the response model out of it; must be a few attribute
# reads, nothing more, as it runs once per chunk.
ChunkReader = Callable[[LLMCall, Any], None]


class MeasuredStream:
    """A client's streamed response, measured while the caller iterates it.

    Counts chunks and the time to the first one, lets ``reader`` pick usage out of chunks, and
    records the call when the stream ends, errors, is closed, or is dropped after the caller
    stopped early (outcome ``incomplete``). Everything else is delegated to the wrapped stream.
    """

    __slots__ = ("_call", "_next", "_reader", "_started", "_stream")

    def __init__(self, stream: Any, call: LLMCall, reader: ChunkReader | None) -> None:
        self._stream = stream
        self._call = call
        self._reader = reader
        self._next: Iterator[Any] | None = None
        self._started = False

    def __iter__(self) -> Iterator[Any]:
        return self._chunks()

    def __next__(self) -> Any:
        if self._next is None:
            self._next = self._chunks()
        return next(self._next)

    def _chunks(self) -> Iterator[Any]:
        # A module-level generator holding no reference back to this proxy: from here on the
        # generator finalizes the call (on exhaustion, error, or GeneratorExit when dropped).
        self._started = True
        return _measured(self._stream, self._call, self._reader)

    def close(self) -> None:
        """Close the underlying stream; a stream not read to the end counts as ``incomplete``."""
        try:
            self._stream.close()
        finally:
            self._call.finish(complete=False)

    def __enter__(self) -> MeasuredStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name in _OWN_SLOTS:  # a slot read before __init__ set it (e.g. from __del__)
            raise AttributeError(name)
        return getattr(self._stream, name)

    # isinstance(stream, openai.Stream) stays True for the caller, as with wrapt's proxies.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._stream)

    def __del__(self) -> None:
        call = getattr(self, "_call", None)
        if call is not None and not call.finished and not getattr(self, "_started", True):
            call.finish(complete=False)  # dropped without ever being read


def _measured(stream: Any, call: LLMCall, reader: ChunkReader | None) -> Iterator[Any]:
    """Yield ``stream``'s chunks, then record ``call`` however the iteration ends.

    Per chunk: a local counter and the reader's few attribute reads, nothing allocated.
    """
    chunks = 0
    error: BaseException | None = None
    complete = False
    try:
        for chunk in stream:
            if not chunks:
                call.first_chunk_at = perf_counter()
            chunks += 1
            if reader is not None:
                try:
                    reader(call, chunk)
                except Exception:
                    _reader_failed()
                    reader = None
            yield chunk
        complete = True
    except GeneratorExit:
        raise  # the caller stopped early: recorded as incomplete below
    except BaseException as exc:
        error = exc
        raise
    finally:
        call.chunks += chunks
        call.finish(error, complete=complete)


class MeasuredAsyncStream:
    """The asynchronous twin of :class:`MeasuredStream`."""

    __slots__ = ("_call", "_iterator", "_reader", "_stream")

    def __init__(self, stream: Any, call: LLMCall, reader: ChunkReader | None) -> None:
        self._stream = stream
        self._call = call
        self._reader = reader
        self._iterator: AsyncIterator[Any] | None = None

    def __aiter__(self) -> MeasuredAsyncStream:
        return self

    async def __anext__(self) -> Any:
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = self._stream.__aiter__()
        call = self._call
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            call.finish()
            raise
        except BaseException as error:
            call.finish(error)
            raise
        if call.chunks == 0:
            call.first_chunk_at = perf_counter()
        call.chunks += 1
        reader = self._reader
        if reader is not None:
            try:
                reader(call, chunk)
            except Exception:
                _reader_failed()
                self._reader = None
        return chunk

    async def close(self) -> None:
        """Close the underlying stream; a stream not read to the end counts as ``incomplete``."""
        try:
            await self._stream.close()
        finally:
            self._call.finish(complete=False)

    async def aclose(self) -> None:
        """Alias of :meth:`close`, as async generators spell it."""
        await self.close()

    async def __aenter__(self) -> MeasuredAsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        if name in _OWN_SLOTS:  # a slot read before __init__ set it (e.g. from __del__)
            raise AttributeError(name)
        return getattr(self._stream, name)

    # isinstance(stream, openai.Stream) stays True for the caller, as with wrapt's proxies.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._stream)

    def __del__(self) -> None:
        call = getattr(self, "_call", None)
        if call is not None and not call.finished:
            call.finish(complete=False)


_OWN_SLOTS = frozenset({"_call", "_iterator", "_next", "_reader", "_started", "_stream"})


def _reader_failed() -> None:
    """Log a chunk reader's internal error once; the stream goes on unmeasured for usage."""
    from vigie.sdk.failsafe import log_internal_error

    log_internal_error("genai stream chunk reader")


# Picks usage and the response model out of a non-streamed response.
ResponseReader = Callable[[LLMCall, Any], None]


def instrument_method(
    owner: Any,
    name: str,
    *,
    provider: str,
    operation: str,
    on_response: ResponseReader,
    on_chunk: ChunkReader | None,
    registry: CollectorRegistry | None = None,
    price_book: PriceBook | None = None,
) -> bool:
    """Replace ``owner.name`` (a client resource's ``create``) by a measuring wrapper.

    Only this one object is patched, never the library's classes: ``del owner.name`` undoes it.
    The request's ``model`` and ``stream`` keyword arguments are read; nothing else of the
    request is. Returns False when the method was already wrapped.
    """
    original = getattr(owner, name)
    if getattr(original, "__vigie_wrapped__", False):
        return False
    start = functools.partial(_start, provider, operation, registry, price_book)
    # Client libraries wrap their async methods in plain decorators: look through them.
    if inspect.iscoroutinefunction(inspect.unwrap(original)):

        @functools.wraps(original)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = start(kwargs)
            if call is None:
                return await original(*args, **kwargs)
            try:
                result = await original(*args, **kwargs)
            except BaseException as error:
                call.finish(error)
                raise
            return _completed(call, result, kwargs, on_response, on_chunk, MeasuredAsyncStream)

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(original)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = start(kwargs)
            if call is None:
                return original(*args, **kwargs)
            try:
                result = original(*args, **kwargs)
            except BaseException as error:
                call.finish(error)
                raise
            return _completed(call, result, kwargs, on_response, on_chunk, MeasuredStream)

        wrapper = sync_wrapper
    wrapper.__vigie_wrapped__ = True
    setattr(owner, name, wrapper)
    return True


def instrument_copies(client: Any, instrument: Callable[[Any], Any]) -> None:
    """Make ``client.copy()`` / ``client.with_options()`` return instrumented clients too.

    ``client.with_options(timeout=5).chat.completions.create(...)`` is a common idiom; without
    this, the copy would escape measurement.
    """
    for name in ("copy", "with_options"):
        original = getattr(client, name, None)
        if original is None or getattr(original, "__vigie_wrapped__", False):
            continue

        def copied(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            return instrument(_original(*args, **kwargs))

        copied.__vigie_wrapped__ = True  # type: ignore[attr-defined]
        copied.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(client, name, copied)


def _start(
    provider: str,
    operation: str,
    registry: CollectorRegistry | None,
    price_book: PriceBook | None,
    kwargs: dict[str, Any],
) -> LLMCall | None:
    try:
        model = kwargs.get("model")
        return LLMCall(
            provider,
            operation,
            model if isinstance(model, str) else "",
            registry=registry,
            price_book=price_book,
        )
    except Exception:
        from vigie.sdk.failsafe import log_internal_error

        log_internal_error("genai call start")
        return None


def _completed(
    call: LLMCall,
    result: Any,
    kwargs: dict[str, Any],
    on_response: ResponseReader,
    on_chunk: ChunkReader | None,
    stream_type: type[MeasuredStream] | type[MeasuredAsyncStream],
) -> Any:
    """Measure a response the client returned: wrap a stream, or read usage and finish."""
    try:
        if kwargs.get("stream") is True:
            return stream_type(result, call, on_chunk)
        on_response(call, result)
    except Exception:
        from vigie.sdk.failsafe import log_internal_error

        log_internal_error("genai response reader")
    call.finish()
    return result
