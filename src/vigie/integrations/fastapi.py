"""HTTP metrics, request ids, ``/metrics`` and ``/health`` for a FastAPI (or Starlette) app.

Glue only: the work is done by :class:`vigie.integrations.asgi.VigieMiddleware`, with the app
itself as the source of route templates. The middleware is created at once (the metric families
exist from the call on) and becomes the outermost layer of the app's middleware stack when
Starlette builds it, at the first request: outside every middleware of the app, so the duration
covers them all, and in place of Starlette's ``ServerErrorMiddleware``, which it stands in for
on the requests it records (:mod:`vigie.integrations.starlette_errors`): an error response is
the app's, as without vigie, and is measured.

Example::

    from fastapi import FastAPI
    import vigie

    app = FastAPI()
    vigie.instrument_fastapi(app)
"""

from __future__ import annotations

from typing import Any

from vigie.exceptions import InstrumentationError
from vigie.integrations.asgi import ASGIApp, MiddlewareConfig, VigieMiddleware
from vigie.integrations.starlette_errors import ServerErrors
from vigie.sdk.failsafe import log_internal_error

__all__ = ["instrument_fastapi"]


def instrument_fastapi(app: Any, **options: Any) -> Any:
    """Instrument ``app`` with :class:`VigieMiddleware`, return it; options as ``MiddlewareConfig``.

    Call it before the app starts serving: its middleware stack is built at the first request,
    and vigie becomes the outermost layer then (middleware added after this call included).
    """
    if not all(
        hasattr(app, name) for name in ("add_middleware", "routes", "build_middleware_stack")
    ):
        raise InstrumentationError(
            f"instrument_fastapi expects a FastAPI or Starlette app, got {type(app).__name__}; "
            "use instrument_asgi for other ASGI apps"
        )
    config = MiddlewareConfig(**options)  # validated now, not at the first request
    if getattr(app, "middleware_stack", None) is not None:
        raise InstrumentationError(
            "cannot instrument this app: it has already served a request; "
            "call instrument_fastapi before the app starts"
        )
    middleware = VigieMiddleware(app, config=config, routes_from=app)  # attached to the stack below
    build = app.build_middleware_stack

    def build_instrumented_stack() -> ASGIApp:
        stack: ASGIApp = build()
        try:
            middleware.attach(stack, ServerErrors.of(stack))
        except Exception:
            log_internal_error("fastapi.attach")
            return stack  # served, unrecorded
        return middleware

    # An instance attribute: Starlette calls self.build_middleware_stack() at the first request.
    app.build_middleware_stack = build_instrumented_stack
    return app
