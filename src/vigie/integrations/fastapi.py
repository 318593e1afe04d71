"""HTTP metrics, request ids, ``/metrics`` and ``/health`` for a FastAPI (or Starlette) app.

Glue only: the work is done by :class:`vigie.integrations.asgi.VigieMiddleware`, added to the app's
middleware stack, with the app itself as the source of route templates.

Example::

    from fastapi import FastAPI
    import vigie

    app = FastAPI()
    vigie.instrument_fastapi(app)
"""

from __future__ import annotations

from typing import Any

from vigie.exceptions import InstrumentationError
from vigie.integrations.asgi import MiddlewareConfig, VigieMiddleware

__all__ = ["instrument_fastapi"]


def instrument_fastapi(app: Any, **options: Any) -> Any:
    """Add :class:`VigieMiddleware` to ``app`` and return ``app``; options as ``MiddlewareConfig``.

    Call it before the app starts serving (Starlette refuses new middleware afterwards).
    """
    if not hasattr(app, "add_middleware") or not hasattr(app, "routes"):
        raise InstrumentationError(
            f"instrument_fastapi expects a FastAPI or Starlette app, got {type(app).__name__}; "
            "use instrument_asgi for other ASGI apps"
        )
    config = MiddlewareConfig(**options)  # validated now, not at the first request
    try:
        app.add_middleware(VigieMiddleware, config=config, routes_from=app)
    except RuntimeError as error:
        raise InstrumentationError(f"cannot instrument this app: {error}") from error
    return app
