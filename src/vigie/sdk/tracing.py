"""Traces of the user's app: OpenTelemetry set up by ``vigie.configure()``, spans for each stage.

Until tracing is configured every function here is a cheap no-op and ``opentelemetry`` is not
imported, so ``import vigie`` stays light. :func:`install` (called by ``configure()``) builds a
``TracerProvider`` with parent-based ratio sampling and a batched OTLP/HTTP (protobuf) exporter
whose queue is bounded: when the endpoint is down, spans are dropped rather than piling up.

Who opens which span:

* the HTTP middleware: :func:`start_server_span` (kind SERVER, W3C ``traceparent`` taken from the
  request headers) and :func:`current_exemplar` for histogram exemplars;
* the LLM wrappers: :func:`genai_span` (kind CLIENT, OpenTelemetry GenAI attribute names; message
  content is captured only when asked);
* retrieval wrappers: :func:`retrieval_span`;
* the user: :func:`span` for their own stages, as a context manager or a decorator.

Outgoing ``httpx`` and ``requests`` calls made inside a span carry ``traceparent`` (and
``baggage``) once tracing is configured, so the next service continues the trace.

Example::

    >>> import vigie
    >>> with vigie.span("validate", items=3) as stage:   # no-op until tracing is configured
    ...     stage.set_attribute("valid", True)
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from vigie.sdk.failsafe import guard, log_internal_error

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "GenAICall",
    "RetrievalCall",
    "ServerSpan",
    "SpanHandle",
    "TracingSwitch",
    "capture_content_enabled",
    "current_exemplar",
    "current_trace_ids",
    "flush",
    "genai_span",
    "inject_headers",
    "install",
    "is_enabled",
    "otlp_url",
    "retrieval_span",
    "span",
    "start_server_span",
    "switch",
    "uninstall",
]

AttributeValue = str | bool | int | float | Sequence[str] | Sequence[int] | Sequence[float]
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass
class _Tracing:
    """What :func:`install` set up, so that :func:`uninstall` can take it down."""

    provider: TracerProvider
    tracer: Tracer
    capture_content: bool
    undo: list[Callable[[], None]] = field(default_factory=list)


_active: _Tracing | None = None


class TracingSwitch:
    """Whether tracing is installed, as one attribute the HTTP middlewares read per request.

    >>> TracingSwitch().enabled
    False
    """

    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = False


#: Mirrors :func:`is_enabled`: an attribute read is cheaper than a call on the request path.
switch = TracingSwitch()


def is_enabled() -> bool:
    """True once :func:`install` has set tracing up (through ``vigie.configure()``)."""
    return _active is not None


def install(
    *,
    service_name: str,
    environment: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    sample_ratio: float = 1.0,
    queue_size: int = 2048,
    export_timeout: float = 10.0,
    capture_content: bool = False,
    propagate_outgoing: bool = True,
    set_global: bool = True,
) -> None:
    """Set up the tracer provider; called by ``vigie.configure()`` (use that instead).

    ``endpoint`` is the OTLP/HTTP base URL (``http://host:4318``); spans go to
    ``<endpoint>/v1/traces``. Without an endpoint spans are still created (their ids appear in
    logs and exemplars) but not exported.
    """
    global _active
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if _active is not None:
        uninstall()
    attributes: dict[str, str] = {"service.name": service_name}
    if environment:
        attributes["deployment.environment.name"] = environment
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=ParentBased(root=TraceIdRatioBased(sample_ratio)),
    )
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(
            endpoint=otlp_url(endpoint, "traces"),
            headers=dict(headers or {}),
            timeout=export_timeout,
        )
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=queue_size,
                max_export_batch_size=min(512, queue_size),
                export_timeout_millis=export_timeout * 1000,
            )
        )
    state = _Tracing(provider, provider.get_tracer("vigie"), capture_content)
    if set_global and type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider":
        # The user's own OpenTelemetry instrumentation then exports through the same pipeline.
        trace.set_tracer_provider(provider)
    if propagate_outgoing:
        state.undo.extend(_patch_outgoing_clients())
    state.undo.append(_hook_llm_calls())
    _active = state
    switch.enabled = True


def flush(timeout: float = 10.0) -> bool:
    """Export the spans finished so far now (before a serverless function freezes, say).

    True when everything was exported in time, or when there is nothing to export.
    """
    state = _active
    if state is None:
        return True
    return bool(state.provider.force_flush(int(timeout * 1000)))


def uninstall() -> None:
    """Flush and shut the tracer provider down and remove the outgoing-call hooks."""
    global _active
    state, _active = _active, None
    switch.enabled = False
    if state is None:
        return
    for undo in reversed(state.undo):
        undo()
    with guard("tracing shutdown"):
        state.provider.shutdown()


def otlp_url(endpoint: str, signal: str) -> str:
    """``<endpoint>/v1/<signal>`` unless ``endpoint`` already names the signal's path.

    >>> otlp_url("http://127.0.0.1:4318/", "traces")
    'http://127.0.0.1:4318/v1/traces'
    """
    if endpoint.rstrip("/").endswith(f"/v1/{signal}"):
        return endpoint
    return f"{endpoint.rstrip('/')}/v1/{signal}"


# --- ids for logs and exemplars -------------------------------------------------------------


def current_trace_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the active span, or None (also when OTel is not loaded)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def current_exemplar() -> dict[str, str] | None:
    """``{"trace_id": ..., "span_id": ...}`` of the active sampled span, for histogram exemplars.

    prometheus-client attaches it to the observation (``histogram.observe(v, exemplar)``), so a
    slow latency bucket in Grafana or the vigie UI links to the trace that made it slow.
    """
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


# --- server spans (HTTP middleware) -------------------------------------------------------------


class ServerSpan(Protocol):
    """A server span opened for one HTTP request."""

    def finish(
        self, status_code: int, error: BaseException | None = None, *, route: str | None = None
    ) -> None:
        """End the span with the response status (and the exception, if the app raised).

        ``route`` is the route template when the router found it after the span was opened.
        """


class _HeaderGetter:  # an opentelemetry.propagators.textmap.Getter, without importing it
    """Read W3C headers case-insensitively from a plain mapping."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            lowered = key.lower()
            value = next((v for k, v in carrier.items() if k.lower() == lowered), None)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_getter = _HeaderGetter()


class _OpenServerSpan:
    """The span of one request, current in the request's context until :meth:`finish`."""

    __slots__ = ("_method", "_span", "_token")

    def __init__(self, span: Span, token: object, method: str) -> None:
        self._span = span
        self._token = token
        self._method = method

    def set_route(self, route: str) -> None:
        """Name the span after the route template once the router has found it."""
        self._span.set_attribute("http.route", route)
        self._span.update_name(f"{self._method} {route}")

    def finish(
        self, status_code: int, error: BaseException | None = None, *, route: str | None = None
    ) -> None:
        """Record the status (an error status from 500 or an exception) and end the span."""
        with guard("server span finish"):
            from opentelemetry.context import detach
            from opentelemetry.trace import Status, StatusCode

            span = self._span
            if route:
                self.set_route(route)
            span.set_attribute("http.response.status_code", status_code)
            if error is not None:
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
            elif status_code >= 500:
                span.set_attribute("error.type", str(status_code))
                span.set_status(Status(StatusCode.ERROR))
            span.end()
            detach(self._token)  # type: ignore[arg-type]


class _JoinedServerSpan:
    """The server span another instrumentation opened; vigie adds the route, never ends it."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def finish(
        self, status_code: int, error: BaseException | None = None, *, route: str | None = None
    ) -> None:
        if route and self._span.is_recording():
            self._span.set_attribute("http.route", route)


def start_server_span(
    method: str, route: str | None, headers: Mapping[str, str]
) -> ServerSpan | None:
    """Open a server span for a request (W3C trace context taken from ``headers``); None if off.

    The span becomes the current span, so logs and child spans of the request point to it;
    :meth:`ServerSpan.finish` ends it and restores the previous context.
    """
    state = _active
    if state is None:
        return None
    try:
        from opentelemetry import propagate, trace
        from opentelemetry.context import attach, get_current

        current = trace.get_current_span()
        if current.is_recording() and getattr(current, "kind", None) is trace.SpanKind.SERVER:
            # Another instrumentation (FastAPI's native telemetry, OpenTelemetry's ASGI
            # middleware) already traces this request: one server span per request, not two.
            return _JoinedServerSpan(current)
        # Without a traceparent header the current context stays the parent.
        parent = propagate.extract(
            headers,
            context=get_current(),
            getter=_getter,  # type: ignore[arg-type]
        )
        attributes: dict[str, AttributeValue] = {"http.request.method": method}
        if route:
            attributes["http.route"] = route
        span = state.tracer.start_span(
            f"{method} {route}" if route else method,
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )
        token = attach(trace.set_span_in_context(span, parent))
        return _OpenServerSpan(span, token, method)
    except Exception:
        log_internal_error("start_server_span")
        return None


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent`` (and ``baggage``) of the current span to ``headers``; returns them.

    For HTTP clients other than httpx and requests (which are hooked automatically).
    """
    if _active is not None:
        from opentelemetry import propagate

        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        for key, value in carrier.items():
            headers.setdefault(key, value)
    return headers


def _patch_outgoing_clients() -> list[Callable[[], None]]:
    """Make httpx and requests send the trace context; returns the functions that undo it."""
    import importlib.util

    undo: list[Callable[[], None]] = []

    def wrap(owner: type, name: str, is_async: bool) -> None:
        original = getattr(owner, name)

        if is_async:

            @functools.wraps(original)
            async def send_async(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                _inject_into(request.headers)
                return await original(self, request, *args, **kwargs)

            setattr(owner, name, send_async)
        else:

            @functools.wraps(original)
            def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                _inject_into(request.headers)
                return original(self, request, *args, **kwargs)

            setattr(owner, name, send)
        undo.append(lambda: setattr(owner, name, original))

    if importlib.util.find_spec("httpx") is not None:
        import httpx

        wrap(httpx.Client, "send", is_async=False)
        wrap(httpx.AsyncClient, "send", is_async=True)
    if importlib.util.find_spec("requests") is not None:
        import requests

        wrap(requests.Session, "send", is_async=False)
    return undo


def _inject_into(headers: Any) -> None:
    with guard("outgoing trace context"):
        from opentelemetry import propagate

        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        for key, value in carrier.items():
            if key not in headers:
                headers[key] = value


# --- spans of the user's stages -------------------------------------------------------------------


class SpanHandle:
    """What a ``with`` block gets: set attributes on the span (all no-ops when tracing is off)."""

    __slots__ = ("_span",)

    def __init__(self, span: Span | None) -> None:
        self._span = span

    @property
    def recording(self) -> bool:
        """True when the span is recorded (tracing on and the trace sampled)."""
        return self._span is not None and self._span.is_recording()

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one attribute on the span."""
        if self._span is not None:
            self._span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """Set several attributes at once."""
        if self._span is not None:
            self._span.set_attributes(attributes)

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        """Add a timestamped event to the span."""
        if self._span is not None:
            self._span.add_event(name, attributes or {})


_NOOP = SpanHandle(None)


@contextmanager
def _open(
    name: str, kind_name: str, attributes: Mapping[str, AttributeValue], handle: type[SpanHandle]
) -> Iterator[Any]:
    state = _active
    if state is None:
        yield handle(None)
        return
    from opentelemetry.trace import SpanKind

    with state.tracer.start_as_current_span(
        name, kind=SpanKind[kind_name], attributes=attributes
    ) as opened:
        try:
            yield handle(opened)
        except BaseException as error:
            opened.set_attribute("error.type", type(error).__qualname__)
            raise


class span:  # noqa: N801 - used like a function: ``with vigie.span("retrieve"):``
    """A span for one stage of the user's code: a context manager or a decorator.

    Attributes given as keywords are set on the span; an exception escaping the block is
    recorded and marks the span as an error. As a decorator, each call opens its own span
    (``async def`` functions included).

    >>> @span("format_answer")
    ... def format_answer(text: str) -> str:
    ...     return text.strip()
    >>> format_answer(" ok ")
    'ok'
    """

    def __init__(self, name: str, **attributes: AttributeValue) -> None:
        self.name = name
        self.attributes = attributes
        self._context: Any = None

    def __enter__(self) -> SpanHandle:
        if _active is None:
            return _NOOP
        self._context = _open(self.name, "INTERNAL", self.attributes, SpanHandle)
        return cast(SpanHandle, self._context.__enter__())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        context, self._context = self._context, None
        if context is not None:
            context.__exit__(exc_type, exc, traceback)

    def __call__(self, function: _F) -> _F:
        name, attributes = self.name, self.attributes
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with span(name, **attributes):
                    return await function(*args, **kwargs)

            return cast(_F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with span(name, **attributes):
                return function(*args, **kwargs)

        return cast(_F, run)


# --- GenAI and retrieval spans (LLM and vector-store wrappers) -----------------------------------


class GenAICall(SpanHandle):
    """The span of one LLM call; the wrapper reports the response and usage on it.

    Attribute names are the OpenTelemetry GenAI semantic conventions.
    """

    __slots__ = ()

    def set_response(
        self,
        *,
        model: str | None = None,
        response_id: str | None = None,
        finish_reasons: Sequence[str] | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        """Record what the provider answered: model, id, finish reasons and token usage."""
        if self._span is None:
            return
        values: dict[str, AttributeValue | None] = {
            "gen_ai.response.model": model,
            "gen_ai.response.id": response_id,
            "gen_ai.response.finish_reasons": list(finish_reasons) if finish_reasons else None,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
        }
        self._span.set_attributes({k: v for k, v in values.items() if v is not None})

    def record_messages(
        self,
        input_messages: Sequence[Mapping[str, Any]] | None = None,
        output_messages: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Attach the prompt and answer, only if content capture is on (off by default).

        The text goes through the log redactor first: traces are no place for secrets either.
        """
        state = _active
        if self._span is None or state is None or not state.capture_content:
            return
        from vigie.sdk.redaction import Redactor

        redactor = Redactor()
        for key, messages in (
            ("gen_ai.input.messages", input_messages),
            ("gen_ai.output.messages", output_messages),
        ):
            if messages is not None:
                redacted = redactor.redact_value(list(messages))
                self._span.set_attribute(key, json.dumps(redacted, default=str))


class _LLMCallSpan:
    """The span of one :class:`vigie.sdk.genai.LLMCall`, filled in from the call when it ends.

    It is not made current: a stream may be consumed, and the call finished, in another context.
    """

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def finish(self, call: Any, error: BaseException | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        values: dict[str, AttributeValue | None] = {
            "gen_ai.response.model": call.response_model or None,
            "gen_ai.usage.input_tokens": call.input_tokens,
            "gen_ai.usage.output_tokens": call.output_tokens,
        }
        self._span.set_attributes({k: v for k, v in values.items() if v is not None})
        failure = call.failure or (None if error is None else _error_type(error))
        if failure:
            self._span.set_attribute("error.type", failure)
            self._span.set_status(Status(StatusCode.ERROR, failure))
        if error is not None:
            self._span.record_exception(error)
        self._span.end()


def _error_type(error: BaseException) -> str:
    from vigie.sdk.genai import error_type

    return error_type(error)


def _open_llm_call_span(call: Any) -> _LLMCallSpan | None:
    state = _active
    if state is None:
        return None
    from opentelemetry.trace import SpanKind

    model = call.request_model
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": call.operation,
        "gen_ai.provider.name": call.provider,
    }
    if model:
        attributes["gen_ai.request.model"] = model
    name = f"{call.operation} {model}" if model else call.operation
    return _LLMCallSpan(state.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes))


def _hook_llm_calls() -> Callable[[], None]:
    """Open a GenAI span for every LLM call the SDK measures; returns the undo function."""
    from vigie.sdk import genai

    genai.set_span_factory(_open_llm_call_span)
    return lambda: genai.set_span_factory(None)


def capture_content_enabled() -> bool:
    """True when LLM prompts and answers may be recorded on spans (``capture_content=True``)."""
    return _active is not None and _active.capture_content


@contextmanager
def genai_span(
    operation: str,
    provider: str,
    model: str | None,
    **request: AttributeValue | None,
) -> Iterator[GenAICall]:
    """A CLIENT span for one LLM call, named ``"{operation} {model}"`` as the conventions say.

    ``operation`` is ``chat``, ``text_completion``, ``embeddings``, ...; ``provider`` is
    ``openai``, ``anthropic``, ...; ``request`` keywords become ``gen_ai.request.<name>``
    (``temperature``, ``max_tokens``, ``top_p``, ...). An exception sets ``error.type``.

    >>> with genai_span("chat", "openai", "gpt-4o-mini", temperature=0.2) as call:
    ...     call.set_response(model="gpt-4o-mini-2024-07-18", input_tokens=12, output_tokens=30)
    """
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
    }
    if model:
        attributes["gen_ai.request.model"] = model
    for key, value in request.items():
        if value is not None:
            attributes[f"gen_ai.request.{key}"] = value
    name = f"{operation} {model}" if model else operation
    with _open(name, "CLIENT", attributes, GenAICall) as call:
        yield call


class RetrievalCall(SpanHandle):
    """The span of one retrieval (vector search); the wrapper reports what it found."""

    __slots__ = ()

    def set_result(self, documents: int, top_score: float | None = None) -> None:
        """Record how many documents came back and the best score."""
        if self._span is None:
            return
        self._span.set_attribute("vigie.retrieval.documents", documents)
        if top_score is not None:
            self._span.set_attribute("vigie.retrieval.top_score", top_score)


@contextmanager
def retrieval_span(
    data_source: str | None = None, *, top_k: int | None = None
) -> Iterator[RetrievalCall]:
    """A CLIENT span for one retrieval, ``gen_ai.operation.name = "retrieval"``.

    ``data_source`` (the index or collection) becomes ``gen_ai.data_source.id`` and ``top_k``
    ``gen_ai.request.top_k``. The query text is never recorded.

    >>> with retrieval_span("faq-index", top_k=4) as search:
    ...     search.set_result(documents=4, top_score=0.82)
    """
    attributes: dict[str, AttributeValue] = {"gen_ai.operation.name": "retrieval"}
    if data_source:
        attributes["gen_ai.data_source.id"] = data_source
    if top_k is not None:
        attributes["gen_ai.request.top_k"] = top_k
    name = f"retrieval {data_source}" if data_source else "retrieval"
    with _open(name, "CLIENT", attributes, RetrievalCall) as call:
        yield call
