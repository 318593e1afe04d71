"""HTTP metrics, request ids, ``/metrics`` and ``/health`` for any ASGI app (Starlette, FastAPI...).

:class:`VigieMiddleware` is a pure ASGI middleware: ``__init__`` validates the options once,
``__call__`` does the per-request work and nothing else. Per request it records the metrics of
:mod:`vigie.sdk.http_metrics` (duration to the last byte, count, in-flight, body sizes), binds the
request id of :mod:`vigie.sdk.request_context` and returns it in ``X-Request-ID``, opens a server
span, and answers ``/metrics`` itself. ``/health``, ``/health/live`` and ``/health/ready`` go to
:func:`vigie.sdk.health.default_health`. WebSocket and lifespan scopes pass through untouched.

``http_route`` is the route *template* (``/items/{item_id}``), never the raw path: Starlette and
FastAPI leave the matched route in ``scope["route"]``; a table built from the app's routes adds
the prefixes of included routers and mounts. Any other ASGI app gets the ``unmatched_route``
value unless ``route_resolver`` is given.

Example::

    from starlette.applications import Starlette
    import vigie

    app = vigie.instrument_asgi(Starlette(routes=[...]))
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from hmac import compare_digest
from ipaddress import ip_address, ip_network
from time import perf_counter
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from vigie.environment_variables import VIGIE_EXCLUDED_PATHS
from vigie.exceptions import InstrumentationError
from vigie.sdk.exposition import render_metrics
from vigie.sdk.failsafe import log_internal_error
from vigie.sdk.health import default_health
from vigie.sdk.http_folding import Series
from vigie.sdk.http_metrics import (
    KNOWN_METHODS,
    OTHER,
    UNMEASURED_BODY_METHODS,
    HttpServerMetrics,
)
from vigie.sdk.request_context import (
    HEADER,
    RequestIdSwitch,
    accept_request_id,
    automatic_ids,
    bind_request_id,
    new_request_id,
    reset_request_id,
)
from vigie.sdk.tracing import current_exemplar, start_server_span
from vigie.sdk.tracing import switch as tracing_switch

__all__ = ["HEALTH_PATHS", "ErrorLayer", "MiddlewareConfig", "VigieMiddleware", "instrument_asgi"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ErrorLayer(Protocol):
    """A framework's outermost error layer, which the middleware stands in for.

    Starlette's ``ServerErrorMiddleware`` turns an exception into a 500 response and re-raises
    it. Served through it, every request pays for one more coroutine and one more ``send``
    wrapper; given its stand-in (see :mod:`vigie.integrations.starlette_errors`), the middleware
    calls ``inner``, the app below the layer, and on an exception raised before the response
    started awaits the stand-in to send the error response, as the layer would have.
    """

    inner: ASGIApp

    def __call__(
        self, scope: Scope, receive: Receive, send: Send, error: Exception
    ) -> Awaitable[None]: ...


#: Paths answered by the health registry.
HEALTH_PATHS = frozenset({"/health", "/health/live", "/health/ready"})
_DEFAULT_EXCLUDED = ("/metrics", "/health*")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", OTHER})


@dataclass(frozen=True)
class MiddlewareConfig:
    """The options of the HTTP middlewares (ASGI and WSGI), validated once.

    - ``registry``: where to record (default: the SDK's default registry).
    - ``excluded_paths``: paths not recorded; a trailing ``*`` matches a prefix. Default:
      ``VIGIE_EXCLUDED_PATHS`` when set, else ``/metrics`` and ``/health*``.
    - ``metrics_path``: where the middleware answers scrapes; None to not serve metrics.
    - ``serve_health``: answer ``/health``, ``/health/live``, ``/health/ready``.
    - ``unmatched_route``: the ``http_route`` of requests that matched no route.
    - ``request_id``: bind the request id (``X-Request-ID`` from the client when well-formed, else
      generated) and return it in ``X-Request-ID``. ``None`` (the default): while
      :func:`vigie.configure` has vigie's logging installed, whose lines carry the id; ``True``:
      always (an app that reads :func:`~vigie.sdk.request_context.current_request_id` itself);
      ``False``: never.
    - ``route_resolver``: ``scope -> template or None`` for ASGI apps that are not Starlette.
    - ``exemplars``: attach the trace of the current span to latency observations even when
      vigie's tracing is off (another OpenTelemetry setup made the span). With vigie's tracing on,
      exemplars are always attached; asking the OpenTelemetry context costs about 1 µs.
    - ``endpoint_token``: when set, ``/metrics`` and ``/health*`` answer 401 unless the request
      carries ``Authorization: Bearer <token>`` (compared in constant time); for apps whose
      port is reachable beyond the internal network. Prometheus sends it with
      ``authorization: {credentials: ...}``.
    - ``endpoint_allow``: client networks (``10.0.0.0/8``, ``127.0.0.1``) allowed to reach
      ``/metrics`` and ``/health*``; others get 403. Both may be combined (both must pass).
    """

    registry: CollectorRegistry | None = None
    excluded_paths: Iterable[str] | None = None
    metrics_path: str | None = "/metrics"
    serve_health: bool = True
    unmatched_route: str = ""
    request_id: bool | None = None
    route_resolver: Callable[[Scope], str | None] | None = None
    exemplars: bool = False
    endpoint_token: str | None = None
    endpoint_allow: Iterable[str] | None = None
    exact_excluded: frozenset[str] = field(init=False)
    prefix_excluded: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.registry is not None and not isinstance(self.registry, CollectorRegistry):
            raise InstrumentationError("registry must be a prometheus_client CollectorRegistry")
        if self.metrics_path is not None and not (
            isinstance(self.metrics_path, str) and self.metrics_path.startswith("/")
        ):
            raise InstrumentationError(f"metrics_path must start with '/': {self.metrics_path!r}")
        if self.route_resolver is not None and not callable(self.route_resolver):
            raise InstrumentationError("route_resolver must be callable")
        if isinstance(self.excluded_paths, str):
            raise InstrumentationError("excluded_paths must be a list of paths, not a string")
        paths = (
            list(self.excluded_paths)
            if self.excluded_paths is not None
            else (VIGIE_EXCLUDED_PATHS.read_list() or list(_DEFAULT_EXCLUDED))
        )
        for path in paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise InstrumentationError(f"excluded path must start with '/': {path!r}")
        object.__setattr__(
            self, "exact_excluded", frozenset(p for p in paths if not p.endswith("*"))
        )
        object.__setattr__(self, "prefix_excluded", tuple(p[:-1] for p in paths if p.endswith("*")))
        if self.request_id not in (None, True, False):
            raise InstrumentationError(
                f"request_id must be None, True or False: {self.request_id!r}"
            )
        if self.endpoint_token is not None and (
            not isinstance(self.endpoint_token, str) or len(self.endpoint_token) < 16
        ):
            raise InstrumentationError("endpoint_token must be a string of at least 16 characters")
        if isinstance(self.endpoint_allow, str):
            raise InstrumentationError("endpoint_allow must be a list of networks, not a string")
        try:
            networks = tuple(ip_network(n, strict=False) for n in self.endpoint_allow or ())
        except (TypeError, ValueError) as error:
            raise InstrumentationError(f"endpoint_allow: {error}") from None
        object.__setattr__(
            self, "endpoint_allow", networks if self.endpoint_allow is not None else None
        )

    def endpoint_refusal(self, client: str | None, authorization: str) -> int:
        """0 when ``/metrics`` or ``/health`` may answer this client, else 401 or 403."""
        if self.endpoint_allow is not None:
            try:
                address = ip_address(client or "")
            except ValueError:
                return 403
            if not any(address in network for network in self.endpoint_allow):  # type: ignore[operator]
                return 403
        if self.endpoint_token is not None:
            expected = f"Bearer {self.endpoint_token}".encode()
            if not compare_digest(authorization.encode("latin-1", "replace"), expected):
                return 401
        return 0

    def request_ids(self) -> RequestIdSwitch:
        """The switch a middleware reads per request: fixed, or vigie's logging's own."""
        if self.request_id is None:
            return automatic_ids
        return RequestIdSwitch(self.request_id)

    def excluded(self, path: str) -> bool:
        """True when requests to ``path`` are not recorded."""
        return path in self.exact_excluded or (
            bool(self.prefix_excluded) and path.startswith(self.prefix_excluded)
        )


class _Headers(Mapping[str, str]):
    """A read-only view of ASGI headers, decoded only on lookup (the span reads two or three)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def __getitem__(self, key: str) -> str:
        wanted = key.lower().encode("latin-1")
        for name, value in self._raw:
            if name == wanted:
                return value.decode("latin-1")
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1") for name, _ in self._raw)

    def __len__(self) -> int:
        return len(self._raw)


class _CountingReceive:
    """Wraps ``receive`` to add up the body bytes the app reads (uploads without a length)."""

    __slots__ = ("receive", "size")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.size = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        self.size += len(message.get("body", b""))
        return message


class _ResponseWatch:
    """The full path's ``send``: notes the status, the bytes sent and when the last one left.

    Not a coroutine: it returns the server's own awaitable. With ``id_header`` it adds
    ``X-Request-ID`` to the response unless the app set one. (The common path of
    :meth:`VigieMiddleware.__call__` does the same with a closure, cheaper per request.)
    """

    __slots__ = ("end", "id_header", "send", "size", "status")

    def __init__(self, send: Send, id_header: tuple[bytes, bytes] | None) -> None:
        self.send = send
        self.id_header = id_header
        self.status = 0
        self.size = 0
        self.end = 0.0

    def __call__(self, message: Message) -> Awaitable[None]:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            if self.id_header is not None:
                headers = message.get("headers") or ()
                if all(name != HEADER for name, _ in headers):  # else the app set its own
                    message["headers"] = [*headers, self.id_header]
        elif kind == "http.response.body":
            self.size += len(message.get("body") or b"")
            if not message.get("more_body"):
                self.end = perf_counter()  # the last byte is handed to the server
        return self.send(message)

    def final_status(self, error: BaseException | None) -> int:
        """The status the client gets: 500 when the app raised or sent no response."""
        if not self.status or isinstance(error, Exception):
            return 500
        return self.status


class VigieMiddleware:
    """Pure ASGI middleware recording the HTTP server metrics of every request.

    Options are those of :class:`MiddlewareConfig`, given one by one or as ``config=``;
    ``routes_from`` is the Starlette/FastAPI app whose routes give the templates (default:
    ``app`` itself); ``error_layer``, when ``app`` is a framework's error layer, lets the
    middleware call past it (see :class:`ErrorLayer` and :meth:`attach`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: MiddlewareConfig | None = None,
        routes_from: Any = None,
        error_layer: ErrorLayer | None = None,
        **options: Any,
    ) -> None:
        if config is not None and options:
            raise InstrumentationError("give either config= or options, not both")
        self.attach(app, error_layer)
        self.config = config if config is not None else MiddlewareConfig(**options)
        self.metrics = HttpServerMetrics(
            self.config.registry, unmatched_route=self.config.unmatched_route
        )
        #: The label set of a (method, scheme, ``id(scope["route"])``, status), for the common
        #: path: one lookup instead of a template lookup then a label-set lookup. Only route
        #: objects the route table keeps alive are keys (their ids stay theirs), and a rebuilt
        #: table empties it.
        self._series_by_route: dict[tuple[str, str, int, int], Series] = {}
        self._routes = RouteTable(
            routes_from if routes_from is not None else app,
            self.config.unmatched_route,
            self.config.route_resolver,
            on_rebuild=self._series_by_route.clear,
        )
        self._special = set(HEALTH_PATHS) if self.config.serve_health else set()
        if self.config.metrics_path is not None:
            self._special.add(self.config.metrics_path)
        # The per-request path reads these plain attributes, not the frozen config.
        self._unrecorded = frozenset(self._special | self.config.exact_excluded)
        self._prefix_excluded = self.config.prefix_excluded
        self._request_ids = self.config.request_ids()
        self._exemplars = self.config.exemplars
        self._in_flight = self.metrics.in_flight
        self._record = self.metrics.record
        #: Paths the common path leaves to :meth:`_call_in_full`: the ones it answers or does not
        #: record, exact ones included as prefixes (``/metrics`` catches ``/metricsx``, which the
        #: full path then records as usual).
        self._intercepted = tuple(sorted(self._unrecorded)) + self._prefix_excluded
        #: Whether requests may take the common path at all: buffered recording (not
        #: multiprocess mode), templates from the route table, no exemplars asked for, and not
        #: ``/`` excluded (as a prefix it would catch every path).
        self._lean = (
            self.metrics.deferred
            and self.config.route_resolver is None
            and not self._exemplars
            and "/" not in self._unrecorded
            and "" not in self._prefix_excluded
            and "/" not in self._prefix_excluded
        )

    def attach(self, app: ASGIApp, error_layer: ErrorLayer | None = None) -> None:
        """Serve ``app`` from now on (``error_layer``: the stand-in for ``app``, see ErrorLayer).

        :func:`vigie.integrations.fastapi.instrument_fastapi` creates the middleware when it is
        called, so the metric families exist at once, and attaches it to the app's middleware
        stack when Starlette builds that stack, at the first request.
        """
        if not callable(app):
            raise InstrumentationError(f"app must be an ASGI callable, got {type(app).__name__}")
        if error_layer is not None and not callable(getattr(error_layer, "inner", None)):
            raise InstrumentationError("error_layer must have the ASGI app below it as .inner")
        self.app = app
        #: What a recorded request is sent to: the app, or the app below the layer stood in for.
        self._direct: ASGIApp = app if error_layer is None else error_layer.inner
        self._error_layer = error_layer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The common request (HTTP, no request id, no span, a path the app answers and vigie
        # records) is recorded by this one flat coroutine; anything else goes to _call_in_full.
        # Under uvicorn every operation here costs about 0.02% of a bare FastAPI request's CPU
        # time, so it does only what the metrics need: no call of its own, one closure, one
        # label-set lookup, and request headers read only for a method with content.
        if (
            scope["type"] != "http"
            or self._request_ids.enabled
            or tracing_switch.enabled
            or not self._lean
            or scope.get("root_path")
            or scope["path"].startswith(self._intercepted)
        ):
            await self._call_in_full(scope, receive, send)
            return
        method = scope["method"]
        scheme = scope.get("scheme", "http")
        active = self._in_flight.get((method, scheme))
        if active is None:  # a method or scheme the label values normalise
            await self._call_in_full(scope, receive, send)
            return
        request_size = -1
        if method not in UNMEASURED_BODY_METHODS:
            for name, value in scope["headers"]:
                if name == b"content-length":
                    request_size = int(value) if value.isdigit() else 0
            if request_size < 0 and method in _BODY_METHODS:
                await self._call_in_full(scope, receive, send)  # counts the body as it is read
                return
        start = perf_counter()
        active.inc()
        status = 0
        response_size = 0
        end = 0.0

        def timing_send(message: Message) -> Awaitable[None]:
            # Not a coroutine: it returns the server's own, one frame less per message.
            nonlocal status, response_size, end
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body")
                if body:
                    response_size += len(body)
                if not message.get("more_body"):
                    end = perf_counter()  # the last byte is handed to the server
            elif kind == "http.response.start":
                status = message["status"]
            return send(message)

        error: BaseException | None = None
        try:
            await self._direct(scope, receive, timing_send)
        except BaseException as raised:
            error = raised
            if not status and self._error_layer is not None and isinstance(raised, Exception):
                # What the error layer called past would do: answer, through timing_send so
                # the response is measured, then let the exception go on.
                await self._error_layer(scope, receive, timing_send, raised)
            raise
        finally:
            try:
                if not end:
                    end = perf_counter()
                if not status or (error is not None and isinstance(error, Exception)):
                    status = 500  # the app raised, or sent no response: the server answers 500
                series = self._series_by_route.get((method, scheme, id(scope.get("route")), status))
                if series is None:
                    series = self._series_of(scope, method, scheme, status)
                buffer = series.buffer
                buffer.extend((end - start, request_size, response_size))
                if len(buffer) >= self.metrics.buffer_limit:
                    self.metrics.fold_series(series)
                active.dec()
            except Exception:
                log_internal_error("asgi.record")

    def _series_of(self, scope: Scope, method: str, scheme: str, status: int) -> Series:
        """The label set of a finished request, remembered by route object when that is safe."""
        route = scope.get("route")
        series = self.metrics.series(method, scheme, self._routes.template(scope), status)
        if route is None or id(route) in self._routes.templates:
            self._series_by_route[(method, scheme, id(route), status)] = series
        return series

    async def _call_in_full(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every other request: excluded paths, request ids, spans, exemplars, root paths."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root_path = scope.get("root_path")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]  # served under a prefix: match the app-relative path
        if path in self._unrecorded or path.startswith(self._prefix_excluded):
            if path in self._special and await self._answered(path, scope, send):
                return
            if self.config.excluded(path):
                await self.app(scope, receive, send)
                return

        start = perf_counter()
        method = scope["method"]
        if method not in KNOWN_METHODS:
            method = OTHER
        scheme = scope.get("scheme", "http")
        token = None
        id_header: tuple[bytes, bytes] | None = None
        try:
            request_size = -1
            incoming_id: bytes | None = None
            raw_headers = scope["headers"]
            for name, value in raw_headers:
                if name == b"content-length":
                    request_size = int(value) if value.isdigit() else 0
                elif name == HEADER:
                    incoming_id = value
            if method in UNMEASURED_BODY_METHODS:
                request_size = -1
            if self._request_ids.enabled:
                request_id = None if incoming_id is None else accept_request_id(incoming_id)
                if request_id is None:
                    request_id = new_request_id()
                    id_header = (HEADER, request_id.encode("ascii"))
                else:
                    id_header = (HEADER, incoming_id)  # type: ignore[assignment]
                token = bind_request_id(request_id)
            active = self._in_flight.get((method, scheme)) or self.metrics.active_child(
                method, scheme
            )
            active.inc()
        except Exception:
            log_internal_error("asgi.begin")
            if token is not None:
                reset_request_id(token)
            await self.app(scope, receive, send)  # unrecorded, but served
            return
        span = None
        if tracing_switch.enabled:
            try:
                span = start_server_span(method, None, _Headers(raw_headers))
            except Exception:
                log_internal_error("asgi.start_server_span")

        response = _ResponseWatch(send, id_header)
        # Bodies without Content-Length (chunked uploads) are counted as the app reads them.
        counting = None
        if request_size < 0 and method in _BODY_METHODS:
            counting = receive = _CountingReceive(receive)
        error: BaseException | None = None
        try:
            await self._direct(scope, receive, response)
        except BaseException as raised:
            error = raised
            if (
                not response.status
                and self._error_layer is not None
                and isinstance(raised, Exception)
            ):
                await self._error_layer(scope, receive, response, raised)  # as on the common path
            raise
        finally:
            try:
                end = response.end or perf_counter()
                status = response.final_status(error)
                route = self._routes.templates.get(id(scope.get("route")))
                if route is None:
                    route = self._routes.template(scope, root_path or "")
                self._record(
                    method,
                    scheme,
                    route,
                    status,
                    end - start,
                    request_size if counting is None else counting.size,
                    response.size,
                    current_exemplar() if span is not None or self._exemplars else None,
                )
                active.dec()
                if span is not None:
                    span.finish(status, error, route=route or None)
                if token is not None:
                    reset_request_id(token)
            except Exception:
                log_internal_error("asgi.record")

    async def _answered(self, path: str, scope: Scope, send: Send) -> bool:
        """Answer ``/metrics`` or a health path; False when the app should handle the request."""
        try:
            client = scope.get("client")
            refusal = self.config.endpoint_refusal(
                client[0] if client else None, _Headers(scope["headers"]).get("authorization", "")
            )
            if refusal:
                await send({"type": "http.response.start", "status": refusal, "headers": [
                    (b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer"),
                ]})  # fmt: skip
                await send({"type": "http.response.body", "body": b"access denied\n"})
                return True
            if path == self.config.metrics_path:
                headers = _Headers(scope["headers"])
                rendered = render_metrics(
                    self.config.registry,
                    accept=headers.get("accept", ""),
                    accept_encoding=headers.get("accept-encoding", ""),
                )
                status, body = rendered.status_code, rendered.body
                response_headers = [(k.lower().encode(), v.encode()) for k, v in rendered.headers]
            else:
                health = await default_health().respond_async(path)
                if health is None:
                    return False
                status, body = health.status_code, health.body
                response_headers = [
                    (b"content-type", health.content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ]
        except Exception:
            log_internal_error("asgi.endpoint")
            return False
        if scope["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
        return True


class RouteTable:
    """Route templates of a Starlette/FastAPI app, by route object, with mount and router prefixes.

    Built lazily on first use (routes may be added after instrumentation) and rebuilt when the app's
    route list changes length.
    """

    def __init__(
        self,
        source: Any,
        unmatched: str,
        resolver: Callable[[Scope], str | None] | None = None,
        on_rebuild: Callable[[], None] | None = None,
    ) -> None:
        self._source = source
        self._on_rebuild = on_rebuild
        self._unmatched = unmatched
        self._resolver = resolver
        #: Template by ``id()`` of the route object the router leaves in ``scope["route"]``.
        self.templates: dict[int, str] = {}
        self._ambiguous: set[int] = set()
        self._keep: list[Any] = []  # keeps route objects alive, so their ids stay theirs
        self._built_for = -1

    def template(self, scope: Scope, root_path: str = "") -> str:
        """The template of the route the app matched for ``scope``, or the unmatched value."""
        if self._resolver is not None:
            return self._resolver(scope) or self._unmatched
        route = scope.get("route")
        if route is None:
            return self._unmatched
        found = self.templates.get(id(route))
        if found is not None:
            return found
        return self._slow(scope, route, root_path)

    def _slow(self, scope: Scope, route: Any, root_path: str) -> str:
        routes = getattr(self._source, "routes", None)
        if routes is not None and len(routes) != self._built_for:
            self._build(routes)
            found = self.templates.get(id(route))
            if found is not None:
                return found
        if id(route) in self._ambiguous and routes is not None:
            probe = dict(scope)
            probe["root_path"] = root_path
            probe.pop("app_root_path", None)
            matched = _match_template(routes, probe, "")
            if matched is not None:
                return matched
        path = getattr(route, "path", None)
        if isinstance(path, str) and not getattr(route, "routes", None):
            return path
        return self._unmatched

    def _build(self, routes: list[Any]) -> None:
        found: dict[int, set[str]] = {}
        keep: list[Any] = []
        for original, template in _flatten(routes, "", self._unmatched):
            keep.append(original)
            found.setdefault(id(original), set()).add(template)
        self._keep = keep
        self.templates = {key: next(iter(v)) for key, v in found.items() if len(v) == 1}
        self._ambiguous = {key for key, v in found.items() if len(v) > 1}
        self._built_for = len(routes)
        if self._on_rebuild is not None:
            self._on_rebuild()  # ids of routes the old table kept may now name other objects


def _contexts(routes: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """(route object set in ``scope["route"]``, object carrying the full path) for each route."""
    fastapi_routing = sys.modules.get("fastapi.routing")
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    if iterate is not None:
        for context in iterate(list(routes)):
            yield context.original_route, context
        return
    for route in routes:
        yield route, route


def _flatten(routes: Iterable[Any], prefix: str, unmatched: str) -> Iterator[tuple[Any, str]]:
    for original, carrier in _contexts(routes):
        path = getattr(carrier, "path", None)
        children = getattr(carrier, "routes", None)
        if children:
            # A Mount or Host: its inner routes carry the templates; a 404 inside it is unmatched.
            yield original, unmatched
            yield from _flatten(children, prefix + (path or ""), unmatched)
        elif isinstance(path, str):
            yield original, prefix + path


def _match_template(routes: Iterable[Any], scope: Scope, prefix: str) -> str | None:
    """Match ``scope`` against ``routes`` as the router does (for routes included twice)."""
    from starlette.routing import Match

    for _original, carrier in _contexts(routes):
        match, child_scope = carrier.matches(scope)
        if match == Match.FULL:
            path = getattr(carrier, "path", None) or ""
            children = getattr(carrier, "routes", None)
            if children:
                return _match_template(children, {**scope, **child_scope}, prefix + path)
            return prefix + path
    return None


def instrument_asgi(app: ASGIApp, **options: Any) -> VigieMiddleware:
    """Wrap an ASGI app with :class:`VigieMiddleware`; options as :class:`MiddlewareConfig`.

    Example::

        from starlette.applications import Starlette
        import vigie

        app = vigie.instrument_asgi(Starlette(), excluded_paths=["/metrics", "/internal/*"])
    """
    return VigieMiddleware(app, **options)
