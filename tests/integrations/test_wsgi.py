"""vigie.instrument_wsgi on real Flask and Django apps, served by a real WSGI server."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, Response, stream_with_context
from prometheus_client import CollectorRegistry
from werkzeug.serving import make_server

import vigie
from support.http_series import count, labels
from vigie.sdk.request_context import current_request_id


class _Closed:
    """Counts responses the server has not closed yet, so tests can wait for all of them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pending = 0
        self.condition = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        with self.condition:
            self.pending += 1
        body = self.app(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            with self.condition:
                self.pending -= 1
                self.condition.notify_all()

    def wait(self) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: self.pending == 0, timeout=10)


@contextmanager
def serving(app: Any) -> Iterator[httpx.Client]:
    """Serve ``app`` with werkzeug's threaded WSGI server on loopback; yield a client.

    Assert on metrics after the block: the server closes a response (and vigie records it) after
    the client has read it, and the block waits for every close.
    """
    tracked = _Closed(app)
    server = make_server("127.0.0.1", 0, tracked, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=10) as client:
            yield client
        tracked.wait()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def flask_app() -> Flask:
    app = Flask("shop")

    @app.get("/items/<int:item_id>")
    def read_item(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id, "request_id": current_request_id()}

    @app.post("/items")
    def create_item() -> tuple[bytes, int]:
        from flask import request

        return request.get_data(), 201

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("flask kaboom")

    @app.get("/stream")
    def stream() -> Response:
        def generate() -> Iterator[str]:
            yield "a" * 10
            yield "b" * 20

        return Response(stream_with_context(generate()))

    return app


def test_flask_templates_sizes_and_request_id(registry: CollectorRegistry) -> None:
    """Flask rules become templates; body sizes and X-Request-ID work through a real server."""
    app = vigie.instrument_wsgi(flask_app(), registry=registry, request_id=True)
    assert isinstance(app, Flask)
    with serving(app) as http:
        first = http.get("/items/1", headers={"X-Request-ID": "flask-req-1"})
        second = http.get("/items/22")
        created = http.post("/items", content=b"x" * 300)
        streamed = http.get("/stream")
        missing = http.get("/no/such/page")
    assert first.headers["x-request-id"] == "flask-req-1"
    assert first.json()["request_id"] == "flask-req-1"
    assert second.json()["request_id"] == second.headers["x-request-id"]
    assert created.status_code == 201
    assert streamed.text == "a" * 10 + "b" * 20
    assert missing.status_code == 404
    assert count(registry, "/items/<int:item_id>", 200) == 2
    assert count(registry, "/items", 201, "POST") == 1
    assert count(registry, "", 404) == 1
    assert (
        registry.get_sample_value(
            "http_server_request_body_size_bytes_sum", labels("/items", 201, "POST")
        )
        == 300
    )
    assert (
        registry.get_sample_value(
            "http_server_response_body_size_bytes_sum", labels("/stream", 200)
        )
        == 30
    )
    assert registry.get_sample_value(
        "http_server_response_body_size_bytes_sum", labels("/items/<int:item_id>", 200)
    ) == len(first.content) + len(second.content)
    assert (
        registry.get_sample_value(
            "http_server_active_requests", {"http_request_method": "GET", "url_scheme": "http"}
        )
        == 0
    )


def test_get_bodies_are_not_measured_as_in_asgi(registry: CollectorRegistry) -> None:
    """A GET's Content-Length is not read (RFC 9110 gives it no meaning), as the ASGI path does."""
    app = vigie.instrument_wsgi(flask_app(), registry=registry)
    with serving(app) as http:
        http.request("GET", "/items/1", content=b"ignored")
    size = "http_server_request_body_size_bytes_count"
    assert registry.get_sample_value(size, labels("/items/<int:item_id>", 200)) == 0
    assert count(registry, "/items/<int:item_id>", 200) == 1


def test_concurrent_requests_on_a_threaded_server_are_all_counted(
    registry: CollectorRegistry,
) -> None:
    """Eight client threads against werkzeug's threaded server: every request counted once."""
    app = vigie.instrument_wsgi(flask_app(), registry=registry)
    app.wsgi_app.metrics.batch_size = 8  # folds on request threads while others append
    with serving(app) as http:

        def hammer() -> None:
            for index in range(25):
                assert http.get(f"/items/{index}").status_code == 200

        clients = [threading.Thread(target=hammer) for _ in range(8)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
    assert count(registry, "/items/<int:item_id>", 200) == 200
    assert (
        registry.get_sample_value(
            "http_server_request_duration_seconds_count", labels("/items/<int:item_id>", 200)
        )
        == 200
    )


def test_flask_exception_counts_500_and_is_reraised(registry: CollectorRegistry) -> None:
    """With exceptions propagating (testing mode) the same error object comes out; 500 counted."""
    app = flask_app()
    app.config["PROPAGATE_EXCEPTIONS"] = True
    vigie.instrument_wsgi(app, registry=registry)
    with pytest.raises(RuntimeError, match="flask kaboom"):
        app.test_client().get("/boom")
    assert count(registry, "/boom", 500) == 1


def test_flask_handled_error_is_a_500(registry: CollectorRegistry) -> None:
    """When Flask turns the exception into its own 500 page, that 500 is recorded."""
    app = vigie.instrument_wsgi(flask_app(), registry=registry)
    with serving(app) as http:
        assert http.get("/boom").status_code == 500
    assert count(registry, "/boom", 500) == 1


def test_flask_metrics_and_health_endpoints(registry: CollectorRegistry) -> None:
    """/metrics (with negotiation and gzip) and /health/live are served and not recorded."""
    app = vigie.instrument_wsgi(flask_app(), registry=registry)
    with serving(app) as http:
        http.get("/items/5")
        text = http.get("/metrics")
        open_metrics = http.get(
            "/metrics",
            headers={"Accept": "application/openmetrics-text", "Accept-Encoding": "gzip"},
        )
        live = http.get("/health/live")
    assert text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert 'http_route="/items/<int:item_id>"' in text.text
    assert open_metrics.headers["content-encoding"] == "gzip"
    assert open_metrics.text.endswith("# EOF\n")
    assert live.status_code == 200
    routes = {s.labels.get("http_route") for m in registry.collect() for s in m.samples}
    assert routes == {None, "/items/<int:item_id>"}


def test_generic_wsgi_app_uses_resolver_or_unmatched(registry: CollectorRegistry) -> None:
    """A plain WSGI callable is wrapped; routes come from route_resolver, else unmatched."""

    def plain(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain"]

    def resolver(environ: dict[str, Any]) -> str | None:
        return "/users/{id}" if environ["PATH_INFO"].startswith("/users/") else None

    wrapped = vigie.instrument_wsgi(plain, registry=registry, route_resolver=resolver)
    assert wrapped is not plain
    with serving(wrapped) as http:
        http.get("/users/7")
        http.get("/elsewhere")
    assert count(registry, "/users/{id}", 200) == 1
    assert count(registry, "", 200) == 1


DJANGO_SITE = """
import json, sys, types
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

def item(request, item_id):
    return JsonResponse({"item_id": item_id})

urls = types.ModuleType("site_urls")
urls.urlpatterns = [path("items/<int:item_id>/", item)]
sys.modules["site_urls"] = urls
settings.configure(DEBUG=False, SECRET_KEY="test-only", ROOT_URLCONF="site_urls",
                   ALLOWED_HOSTS=["*"], MIDDLEWARE=[], INSTALLED_APPS=[], USE_TZ=True)

from django.core.wsgi import get_wsgi_application
from prometheus_client import CollectorRegistry
from werkzeug.serving import make_server
import threading, httpx
import vigie

registry = CollectorRegistry()
application = vigie.instrument_wsgi(get_wsgi_application(), registry=registry)
server = make_server("127.0.0.1", 0, application)
thread = threading.Thread(target=server.serve_forever)
thread.start()
base = f"http://127.0.0.1:{server.server_port}"
statuses = [httpx.get(base + p).status_code for p in ("/items/3/", "/items/4/", "/nope/")]
server.shutdown()
thread.join()
server.server_close()
def count(route, status):
    return registry.get_sample_value("http_server_requests_total", {
        "http_request_method": "GET", "url_scheme": "http",
        "http_route": route, "http_response_status_code": str(status)})
print(json.dumps({"statuses": statuses, "template": count("/items/<int:item_id>/", 200),
                  "unmatched": count("", 404), "type": type(application).__name__}))
"""


def test_django_route_templates() -> None:
    """A real Django app records its URL pattern, not the path; unknown paths are unmatched.

    Django settings are process-wide, so the site runs in its own interpreter.
    """
    import json
    import os
    import subprocess

    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_SITE],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert report == {
        "statuses": [200, 200, 404],
        "template": 2.0,
        "unmatched": 1.0,
        "type": "VigieWSGIMiddleware",
    }
