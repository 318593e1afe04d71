"""Stand in for Starlette's ``ServerErrorMiddleware`` on the requests the middleware records.

Every Starlette and FastAPI app is served through ``ServerErrorMiddleware``, the outermost layer
of its middleware stack: it wraps ``send`` in a coroutine that notes whether the response
started, and when the app raises it sends a 500 (its debug page, or the app's handler for
``500``/``Exception``) unless the response had started, then re-raises. vigie's middleware also
wraps ``send`` and watches for exceptions, so when it is attached in that layer's place
(:func:`vigie.integrations.fastapi.instrument_fastapi` does it), it calls the layer's inner app
directly and, on an exception, awaits :class:`ServerErrors` to answer as the layer would. A
request then crosses one layer and one ``send`` wrapper instead of two of each.

Only the exact class is stood in for: a subclass may answer errors its own way, and another
stack keeps its layer as it is. The requests the middleware answers or does not record
(``/metrics``, health, excluded paths) and WebSocket and lifespan scopes still go through the
layer itself.

Example::

    from starlette.middleware.errors import ServerErrorMiddleware

    layer = ServerErrorMiddleware(app)
    stand_in = ServerErrors.of(layer)     # None for anything but a ServerErrorMiddleware
    middleware = VigieMiddleware(layer, error_layer=stand_in)
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from vigie.integrations.asgi import ASGIApp, Receive, Scope, Send

__all__ = ["ServerErrors"]

_LAYER_ATTRIBUTES = ("app", "handler", "debug", "debug_response", "error_response")


class ServerErrors:
    """Answers an exception as the ``ServerErrorMiddleware`` ``layer`` would (see the module)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        #: The app below the layer, which the middleware sends recorded requests to.
        self.inner: ASGIApp = layer.app

    @classmethod
    def of(cls, stack: Any) -> ServerErrors | None:
        """The stand-in for ``stack`` if it is Starlette's own ``ServerErrorMiddleware``."""
        try:
            from starlette.middleware.errors import ServerErrorMiddleware
        except ImportError:  # pragma: no cover - instrument_fastapi implies Starlette
            return None
        if type(stack) is not ServerErrorMiddleware:
            return None
        if not all(hasattr(stack, name) for name in _LAYER_ATTRIBUTES):
            return None  # a Starlette whose layer we do not know
        return cls(stack)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
        """Send the error response of ``error``, raised before the app's response started."""
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request

        layer = self.layer
        request = Request(scope)
        if layer.debug:  # the traceback page
            response = await run_in_threadpool(layer.debug_response, request, error)
        elif layer.handler is None:  # Starlette's plain 500
            response = layer.error_response(request, error)
        elif _is_async_callable(layer.handler):  # the app's handler for 500 / Exception
            response = await layer.handler(request, error)
        else:
            response = await run_in_threadpool(layer.handler, request, error)
        await response(scope, receive, send)


def _is_async_callable(handler: Any) -> bool:
    """Whether calling ``handler`` gives a coroutine (functions, partials, callable objects)."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    if inspect.iscoroutinefunction(handler):
        return True
    return callable(handler) and inspect.iscoroutinefunction(type(handler).__call__)
