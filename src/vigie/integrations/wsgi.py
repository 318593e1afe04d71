"""HTTP metrics, request ids, ``/metrics`` and ``/health`` for WSGI apps (Flask, Django, any).

The same metrics as the ASGI middleware (:mod:`vigie.sdk.http_metrics`), recorded when the
server closes the response iterable, that is after the last byte. Route templates:

- **Flask**: a ``before_request`` hook (run first) copies ``request.url_rule.rule``
  (``/items/<int:item_id>``) into the WSGI environ; requests that match no rule are unmatched.
- **Django**: the path is resolved with ``django.urls.resolve`` once the response is done, and
  the pattern's route (``/items/<int:item_id>/``) is used.
- **Any other WSGI app**: the ``route_resolver`` option (``environ -> template or None``), or the
  ``unmatched_route`` value for every request.

Example::

    from flask import Flask
    import vigie

    app = Flask(__name__)
    vigie.instrument_wsgi(app)        # Flask: wraps app.wsgi_app, returns app

    # Django (wsgi.py):
    application = vigie.instrument_wsgi(get_wsgi_application())
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import Any

from vigie.exceptions import InstrumentationError
from vigie.integrations.asgi import HEALTH_PATHS, MiddlewareConfig
from vigie.sdk.exposition import render_metrics
from vigie.sdk.failsafe import log_internal_error
from vigie.sdk.health import default_health
from vigie.sdk.http_metrics import (
    KNOWN_METHODS,
    OTHER,
    UNMEASURED_BODY_METHODS,
    HttpServerMetrics,
)
from vigie.sdk.request_context import (
    accept_request_id,
    bind_request_id,
    new_request_id,
    reset_request_id,
)
from vigie.sdk.tracing import current_exemplar, start_server_span
from vigie.sdk.tracing import is_enabled as tracing_enabled

__all__ = ["ROUTE_KEY", "VigieWSGIMiddleware", "instrument_wsgi"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The environ key a framework hook sets to the matched route template.
ROUTE_KEY = "vigie.route"


class _Headers(dict[str, str]):
    """Request headers from a WSGI environ, for the server span (built only when tracing is on)."""

    @classmethod
    def of(cls, environ: dict[str, Any]) -> _Headers:
        headers = cls()
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").lower()] = value
        return headers


class VigieWSGIMiddleware:
    """WSGI middleware recording the HTTP server metrics; options as :class:`MiddlewareConfig`.

    ``route_of`` is a framework-specific ``environ -> template or None`` used after the response
    (:func:`instrument_wsgi` sets it for Django).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        config: MiddlewareConfig | None = None,
        route_of: Callable[[dict[str, Any]], str | None] | None = None,
        **options: Any,
    ) -> None:
        if not callable(app):
            raise InstrumentationError(f"app must be a WSGI callable, got {type(app).__name__}")
        if config is not None and options:
            raise InstrumentationError("give either config= or options, not both")
        self.app = app
        self.config = config if config is not None else MiddlewareConfig(**options)
        self.request_ids = self.config.request_ids()
        self.metrics = HttpServerMetrics(
            self.config.registry, unmatched_route=self.config.unmatched_route
        )
        self._route_of = self.config.route_resolver or route_of
        self._special = set(HEALTH_PATHS) if self.config.serve_health else set()
        if self.config.metrics_path is not None:
            self._special.add(self.config.metrics_path)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in self._special:
            answered = self._answered(path, environ, start_response)
            if answered is not None:
                return answered
        if self.config.excluded(path):
            return self.app(environ, start_response)
        return _Request(self, environ, start_response).run()

    def _answered(
        self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes] | None:
        try:
            refusal = self.config.endpoint_refusal(
                environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION", "")
            )
            if refusal:
                start_response(
                    "401 Unauthorized" if refusal == 401 else "403 Forbidden",
                    [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
                )
                return [b"access denied\n"]
            if path == self.config.metrics_path:
                rendered = render_metrics(
                    self.config.registry,
                    accept=environ.get("HTTP_ACCEPT", ""),
                    accept_encoding=environ.get("HTTP_ACCEPT_ENCODING", ""),
                )
                status, body, headers = rendered.status_code, rendered.body, rendered.headers
            else:
                health = default_health().respond(path)
                if health is None:
                    return None
                status, body = health.status_code, health.body
                headers = [
                    ("Content-Type", health.content_type),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                ]
        except Exception:
            log_internal_error("wsgi.endpoint")
            return None
        start_response(f"{status} {_REASONS.get(status, 'Unknown')}", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


_REASONS = {200: "OK", 405: "Method Not Allowed", 500: "Internal Server Error", 503: "Unavailable"}


class _Request:
    """One request in flight: wraps ``start_response`` and the body iterable, records at close."""

    __slots__ = (
        "_active",
        "_done",
        "_environ",
        "_id_header",
        "_method",
        "_middleware",
        "_request_size",
        "_response_size",
        "_scheme",
        "_span",
        "_start",
        "_start_response",
        "_status",
        "_token",
    )

    def __init__(
        self,
        middleware: VigieWSGIMiddleware,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
    ) -> None:
        self._start = perf_counter()
        self._middleware = middleware
        self._environ = environ
        self._start_response = start_response
        method = environ.get("REQUEST_METHOD", "GET")
        self._method = method if method in KNOWN_METHODS else OTHER
        self._scheme = environ.get("wsgi.url_scheme", "http")
        length = "" if method in UNMEASURED_BODY_METHODS else environ.get("CONTENT_LENGTH", "")
        self._request_size = int(length) if length and length.isdigit() else -1
        self._status = 0
        self._response_size = 0
        self._done = False
        self._token: Any = None
        self._id_header: tuple[str, str] | None = None
        self._span: Any = None
        self._active: Any = None

    def run(self) -> Iterable[bytes]:
        try:
            self._begin()
        except Exception:
            log_internal_error("wsgi.begin")
        try:
            body = self._middleware.app(self._environ, self._capture)
        except BaseException as error:
            self._finish(error)
            raise
        return _Body(self, body)

    def _begin(self) -> None:
        if self._middleware.request_ids.enabled:
            request_id = accept_request_id(
                environ_id.encode("latin-1")
                if (environ_id := self._environ.get("HTTP_X_REQUEST_ID"))
                else None
            )
            if request_id is None:
                request_id = new_request_id()
            self._id_header = ("X-Request-ID", request_id)
            self._token = bind_request_id(request_id)
        self._active = self._middleware.metrics.active_child(self._method, self._scheme)
        self._active.inc()
        if tracing_enabled():  # the headers dict is built only for a span
            try:
                self._span = start_server_span(self._method, None, _Headers.of(self._environ))
            except Exception:
                log_internal_error("wsgi.start_server_span")

    def _capture(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        try:
            self._status = int(status[:3])
            if self._id_header is not None and not any(
                name.lower() == "x-request-id" for name, _ in headers
            ):
                headers = [*headers, self._id_header]
        except Exception:
            log_internal_error("wsgi.start_response")
        if exc_info is not None:
            return self._start_response(status, headers, exc_info)
        return self._start_response(status, headers)

    def count(self, chunk: bytes) -> None:
        self._response_size += len(chunk)

    def _finish(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        try:
            end = perf_counter()
            status = self._status
            if isinstance(error, Exception) or status == 0:
                status = 500
            middleware = self._middleware
            route = self._route()
            middleware.metrics.record(
                self._method,
                self._scheme,
                route,
                status,
                end - self._start,
                self._request_size,
                self._response_size,
                current_exemplar()
                if self._span is not None or middleware.config.exemplars
                else None,
            )
            if self._active is not None:
                self._active.dec()
            if self._span is not None:
                self._span.finish(status, error, route=route or None)
            if self._token is not None:
                # Closed from another context (a server quirk): nothing to restore then.
                with contextlib.suppress(ValueError):
                    reset_request_id(self._token)
        except Exception:
            log_internal_error("wsgi.record")

    def _route(self) -> str:
        unmatched = self._middleware.config.unmatched_route
        route = self._environ.get(ROUTE_KEY)
        if route is None and self._middleware._route_of is not None:
            route = self._middleware._route_of(self._environ)
        return route if isinstance(route, str) and route else unmatched


class _Body:
    """The app's body iterable, counting bytes; ``close()`` (after the last byte) records."""

    __slots__ = ("_body", "_request")

    def __init__(self, request: _Request, body: Iterable[bytes]) -> None:
        self._request = request
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        count = self._request.count
        try:
            for chunk in self._body:
                count(chunk)
                yield chunk
        except BaseException as error:
            self._request._finish(error)
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._request._finish(None)


def _flask_hook(app: Any) -> None:
    """Make Flask put the matched rule in the environ before any other before_request hook."""
    from flask import request

    def remember_rule() -> None:
        rule = request.url_rule
        if rule is not None:
            request.environ[ROUTE_KEY] = rule.rule

    app.before_request_funcs.setdefault(None, []).insert(0, remember_rule)


def _django_route(environ: dict[str, Any]) -> str | None:
    """The URL pattern Django resolves ``PATH_INFO`` to, as ``/items/<int:item_id>/``."""
    from django.urls import Resolver404, resolve  # type: ignore[import-untyped]

    try:
        match = resolve(environ.get("PATH_INFO", "/"))
    except Resolver404:
        return None
    route = match.route
    if not isinstance(route, str) or not route:
        return None
    return route if route.startswith("/") else "/" + route


def instrument_wsgi(app: Any, **options: Any) -> Any:
    """Instrument a WSGI app; options as :class:`~vigie.integrations.asgi.MiddlewareConfig`.

    A Flask app is instrumented in place (its ``wsgi_app`` is wrapped, so ``flask run`` and
    ``app.test_client()`` see the metrics) and returned; any other app is returned wrapped.
    """
    if hasattr(app, "url_map") and hasattr(app, "wsgi_app") and hasattr(app, "before_request"):
        middleware = VigieWSGIMiddleware(app.wsgi_app, **options)
        _flask_hook(app)
        app.wsgi_app = middleware
        return app
    if type(app).__module__.startswith("django."):
        return VigieWSGIMiddleware(app, route_of=_django_route, **options)
    return VigieWSGIMiddleware(app, **options)
