"""The HTTP app: lifecycle endpoints, ``/metrics``, remote write, and the Prometheus API routes.

Plain Starlette (FastAPI's core) because every route here speaks a fixed wire format (Prometheus's
text, JSON envelope and protobuf) that request models would only get in the way of.

Example::

    app = create_app(Server(ServerOptions(data_dir=Path("vigie-data"))))
    # GET /-/healthy -> 200 "vigie is Healthy."
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from vigie.exceptions import PayloadError, StoreError, VigieError
from vigie.server import alerting_api, api, quality_api, remote_write
from vigie.server.runtime import Server

__all__ = ["create_app"]

logger = logging.getLogger("vigie.server")

Handler = Callable[[Request], Awaitable[Response]]


def create_app(server: Server) -> Starlette:
    """The ASGI app of ``server``; its lifespan starts the server in the background."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.start_in_background()
        yield
        await server.stop()  # also when the app is served by something else than Server.run

    def counted(name: str, handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            response = await handler(request)
            server.metrics.http_requests.labels(name, str(response.status_code)).inc()
            return response

        return wrapper

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("vigie is Healthy.\n")

    async def ready(request: Request) -> Response:
        if not server.ready:
            return PlainTextResponse("Service Unavailable\n", status_code=503)
        return PlainTextResponse("vigie is Ready.\n")

    async def reload(request: Request) -> Response:
        try:
            await server.reload()
        except VigieError as error:
            return PlainTextResponse(f"failed to reload config: {error}\n", status_code=500)
        return PlainTextResponse("")

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        body = await asyncio.to_thread(encoder, server.metrics.registry)
        return Response(body, media_type=content_type)

    async def write(request: Request) -> Response:
        response = await _remote_write(server, request)
        server.metrics.remote_write_requests.labels(str(response.status_code)).inc()
        return response

    async def traces(request: Request) -> Response:
        return await _otlp(server, request, "traces")

    async def logs(request: Request) -> Response:
        return await _otlp(server, request, "logs")

    routes = [
        Route("/-/healthy", counted("/-/healthy", healthy), methods=["GET", "HEAD"]),
        Route("/-/ready", counted("/-/ready", ready), methods=["GET", "HEAD"]),
        Route("/-/reload", counted("/-/reload", reload), methods=["POST", "PUT"]),
        Route("/metrics", counted("/metrics", metrics), methods=["GET"]),
        Route("/api/v1/write", counted("/api/v1/write", write), methods=["POST"]),
        Route("/v1/traces", counted("/v1/traces", traces), methods=["POST"]),
        Route("/v1/logs", counted("/v1/logs", logs), methods=["POST"]),
    ]
    for module in (api, alerting_api, quality_api):
        for path, handler, methods in module.routes(server):
            routes.append(Route(path, counted(path, handler), methods=methods))
    from vigie.server.telemetry_api import telemetry_routes  # traces/logs search (UI's APIs)
    from vigie.server.ui import ui_routes

    ui = [*telemetry_routes(server), *ui_routes(server)]
    from vigie.server.security import server_middleware  # auth, CSRF, CORS, headers, limits

    middleware = server_middleware(server)
    return Starlette(routes=[*routes, *ui], lifespan=lifespan, middleware=middleware)


async def _otlp(server: Server, request: Request, signal: str) -> Response:
    """OTLP/HTTP ``POST /v1/traces`` and ``/v1/logs``, answered by the telemetry service."""
    service = server.telemetry
    if service is None:
        status = 503 if server.config.vigie.telemetry.enabled else 404
        return PlainTextResponse("traces and logs are not being received\n", status_code=status)
    body = await request.body()
    ingest = service.ingest_traces if signal == "traces" else service.ingest_logs
    status, headers, payload = await asyncio.to_thread(
        ingest,
        body,
        request.headers.get("content-type"),
        request.headers.get("content-encoding"),
    )
    return Response(payload, status_code=status, headers=headers)


async def _remote_write(server: Server, request: Request) -> Response:
    storage = server.storage
    if not server.ready or storage is None:
        return PlainTextResponse("Service Unavailable\n", status_code=503)
    content_type = request.headers.get("content-type", "application/x-protobuf")
    if "proto=" in content_type and "proto=prometheus.WriteRequest" not in content_type:
        # Remote write 2.0 (io.prometheus.write.v2.Request): refused so the sender falls back.
        return PlainTextResponse(
            f"unsupported remote write message {content_type!r}: only 1.0 "
            "(prometheus.WriteRequest) is accepted\n",
            status_code=415,
        )
    body = await request.body()
    try:
        series, metadata = await asyncio.to_thread(remote_write.decode, body)
    except PayloadError as error:
        return PlainTextResponse(f"{error}\n", status_code=400)
    try:
        stored, duplicates, out_of_order = await asyncio.to_thread(
            remote_write.store, storage, series
        )
    except StoreError as error:
        logger.error("remote write could not be stored: %s", error)
        return PlainTextResponse(f"{error}\n", status_code=500)
    server.remote_metadata.update(metadata)
    server.metrics.remote_write_samples.inc(stored)
    if duplicates:
        server.metrics.remote_write_samples_dropped.labels("duplicate").inc(duplicates)
    if out_of_order:
        server.metrics.remote_write_samples_dropped.labels("out_of_order").inc(out_of_order)
    return Response(status_code=204)
