"""The quality endpoints: sample batches in, drift report and distributions out.

* ``POST /api/v1/quality/samples`` — a JSON batch (see ``docs/quality.md``); answers
  ``{"status": "success", "data": {"accepted": N}}``, or 400 with the field named and nothing
  of the batch kept.
* ``GET /api/v1/quality/report`` — the last check's report in the ``{status, data}`` envelope.
* ``GET /api/v1/quality/distributions?model=M&feature=F[&bins=20]`` — reference vs current.
* ``POST /api/v1/quality/reference`` — ``{"model", "from", "to"}`` (Unix seconds) fixes the
  reference window; ``{"model", "reset": true}`` goes back to the trailing window.

Errors use Prometheus's envelope: ``{"status": "error", "errorType": "bad_data", "error": ...}``.

Example::

    $ curl -s -XPOST localhost:9800/api/v1/quality/samples \\
        -d '{"samples": [{"model": "intent", "numeric": {"length": 42}}]}'
    {"status":"success","data":{"accepted":1}}
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vigie.exceptions import ConfigurationError, PayloadError
from vigie.quality.service import QualityService

if TYPE_CHECKING:
    from vigie.server.runtime import Server

__all__ = ["MAX_BODY_BYTES", "routes"]

Handler = Callable[[Request], Awaitable[Response]]

#: Largest sample batch accepted (the SDK sends far less).
MAX_BODY_BYTES = 8 << 20


class _FailedError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


def _bad(message: str) -> _FailedError:
    return _FailedError(400, "bad_data", message)


def routes(server: Server) -> list[tuple[str, Handler, list[str]]]:
    """``(path, handler, methods)`` of the quality routes of ``server``."""

    def service() -> QualityService:
        if server.quality is None:
            if server.ready and not server.config.vigie.quality.enabled:
                raise _FailedError(
                    404, "not_found", "quality monitoring is disabled (vigie.quality)"
                )
            raise _FailedError(503, "unavailable", "Service Unavailable")
        return server.quality

    def enveloped(work: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                data = await work(request)
            except _FailedError as failed:
                body = {"status": "error", "errorType": failed.error_type, "error": failed.message}
                return JSONResponse(body, status_code=failed.status)
            return JSONResponse({"status": "success", "data": data})

        return handler

    async def samples(request: Request) -> dict[str, int]:
        quality = service()
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise _FailedError(413, "bad_data", f"body over {MAX_BODY_BYTES} bytes")
        try:
            accepted = await asyncio.to_thread(quality.ingest, body)
        except PayloadError as error:
            raise _bad(str(error)) from None
        return {"accepted": accepted}

    async def report(request: Request) -> dict[str, Any]:
        return service().report()

    async def distributions(request: Request) -> dict[str, Any]:
        quality = service()
        params = request.query_params
        model, feature = params.get("model"), params.get("feature")
        if not model or not feature:
            raise _bad("model and feature are required")
        bins_text = params.get("bins", "20")
        if not bins_text.isdigit() or not 1 <= int(bins_text) <= 200:
            raise _bad(f"bins: expected an integer in 1..200, got {bins_text!r}")
        try:
            return await asyncio.to_thread(quality.distributions, model, feature, int(bins_text))
        except ConfigurationError as error:
            raise _FailedError(404, "not_found", str(error)) from None

    async def reference(request: Request) -> dict[str, Any]:
        quality = service()
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as error:
            raise _bad(f"body is not JSON: {error}") from None
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise _bad("model: expected a string")
        model = body["model"]
        if body.get("reset") is True:
            await asyncio.to_thread(quality.reset_reference, model)
            return {"model": model, "reference": "trailing"}
        bounds = []
        for name in ("from", "to"):
            value = body.get(name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _bad(f'{name}: expected Unix seconds (or "reset": true)')
            bounds.append(float(value))
        try:
            return await asyncio.to_thread(quality.set_reference, model, bounds[0], bounds[1])
        except ConfigurationError as error:
            raise _bad(str(error)) from None

    from vigie.server.erasure import routes as erasure_routes

    return [
        # Erasure of a user's data on request (feedback's GDPR duty) is served with these.
        *erasure_routes(server),
        ("/api/v1/quality/samples", enveloped(samples), ["POST"]),
        ("/api/v1/quality/report", enveloped(report), ["GET"]),
        ("/api/v1/quality/distributions", enveloped(distributions), ["GET"]),
        ("/api/v1/quality/reference", enveloped(reference), ["POST"]),
    ]
