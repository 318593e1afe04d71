"""The security middleware: tokens, roles, sessions, CSRF, CORS, headers, body and rate limits."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from vigie.server.secrets_store import TokenStore
from vigie.server.security import CSP, SecurityMiddleware, SecuritySettings, TokenBucket


async def _echo(request: Request) -> Response:
    body = await request.body()
    return PlainTextResponse(f"{request.method} {len(body)}")


def _app(tmp_path: Path, *, auth: bool = True, **settings: object) -> tuple[TestClient, TokenStore]:
    routes = [
        Route(path, _echo, methods=["GET", "POST", "DELETE"])
        for path in ("/api/v1/query", "/api/v1/labels", "/api/v2/silences", "/api/v1/write",
                     "/-/reload", "/-/healthy", "/ui/", "/ui/static/app.js")
    ]  # fmt: skip
    store = TokenStore(tmp_path)
    store.load_or_create()
    app = SecurityMiddleware(
        Starlette(routes=routes),
        settings=SecuritySettings(**settings),  # type: ignore[arg-type]
        tokens=store if auth else None,
        auth_enabled=auth,
    )
    return TestClient(app, base_url="http://vigie.test", follow_redirects=False), store


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_requests_without_token_are_refused(tmp_path: Path) -> None:
    """No token: API 401 with the JSON envelope, pages redirect to the login form."""
    client, _ = _app(tmp_path)
    response = client.get("/api/v1/labels")
    assert response.status_code == 401
    assert response.json() == {
        "status": "error", "errorType": "unauthorized", "error": "a valid token is required"
    }  # fmt: skip
    assert response.headers["www-authenticate"] == 'Bearer realm="vigie"'
    page = client.get("/ui/?tab=x")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fui%2F%3Ftab%3Dx"
    assert client.get("/api/v1/labels", headers=_bearer("vigie_wrong")).status_code == 401


def test_probes_and_static_assets_stay_open(tmp_path: Path) -> None:
    """/-/healthy and /ui/static/ need no token (load balancers and the login page)."""
    client, _ = _app(tmp_path)
    assert client.get("/-/healthy").status_code == 200
    assert client.get("/ui/static/app.js").status_code == 200


def test_viewer_reads_admin_writes(tmp_path: Path) -> None:
    """The viewer token reads (GET and read POSTs); changes need the admin token."""
    client, store = _app(tmp_path)
    tokens = store.current()
    viewer, admin = _bearer(tokens.viewer), _bearer(tokens.admin)
    assert client.get("/api/v1/labels", headers=viewer).text == "GET 0"
    assert client.post("/api/v1/query", headers=viewer, data={"query": "up"}).status_code == 200
    for path in ("/api/v2/silences", "/api/v1/write", "/-/reload"):
        refused = client.post(path, headers=viewer, content=b"x")
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "this request needs the admin token"
        assert client.post(path, headers=admin, content=b"x").text == "POST 1"
    assert client.delete("/api/v2/silences", headers=viewer).status_code == 403


def test_basic_auth_password_is_the_token(tmp_path: Path) -> None:
    """Prometheus remote_write basic_auth: any user name, the token as password."""
    client, store = _app(tmp_path)
    credentials = base64.b64encode(f"prometheus:{store.current().admin}".encode()).decode()
    response = client.post(
        "/api/v1/write", headers={"Authorization": f"Basic {credentials}"}, content=b"abc"
    )
    assert response.text == "POST 3"
    garbage = client.get("/api/v1/labels", headers={"Authorization": "Basic %%%"})
    assert garbage.status_code == 401


def test_login_sets_a_strict_session_cookie(tmp_path: Path) -> None:
    """POST /login with the viewer token opens a session; a wrong token gets the form again."""
    client, store = _app(tmp_path)
    form = client.get("/login?next=/ui/")
    assert form.status_code == 200
    assert '<form method="post" action="/login">' in form.text
    assert "<script" not in form.text
    wrong = client.post("/login", data={"token": "nope", "next": "/ui/"})
    assert wrong.status_code == 401
    assert "Invalid token." in wrong.text
    response = client.post("/login", data={"token": store.current().viewer, "next": "/ui/"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert client.get("/api/v1/labels").status_code == 200  # the cookie jar carries the session
    assert client.post("/-/reload").status_code == 403  # a viewer session cannot change things
    client.get("/logout")
    assert client.get("/api/v1/labels").status_code == 401


def test_login_refuses_open_redirects(tmp_path: Path) -> None:
    """next= pointing off-site falls back to /ui/."""
    client, store = _app(tmp_path)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"token": store.current().viewer, "next": target})
        assert response.headers["location"] == "/ui/", target


def test_rotation_revokes_tokens_and_sessions(tmp_path: Path) -> None:
    """After a rotation the old token and sessions opened with it stop working at once."""
    client, store = _app(tmp_path)
    old = store.current()
    client.post("/login", data={"token": old.viewer})
    assert client.get("/api/v1/labels").status_code == 200
    TokenStore(tmp_path).rotate(("viewer",))  # another process: `vigie tokens rotate`
    assert client.get("/api/v1/labels").status_code == 401
    assert client.get("/api/v1/labels", headers=_bearer(old.viewer)).status_code == 401
    assert client.get("/api/v1/labels", headers=_bearer(old.admin)).status_code == 200
    new = store.current()
    assert client.get("/api/v1/labels", headers=_bearer(new.viewer)).status_code == 200


@pytest.mark.parametrize("auth", [True, False])
def test_cross_site_state_changes_are_refused(tmp_path: Path, auth: bool) -> None:
    """CSRF: an unsafe request from another origin gets 403, with or without auth."""
    client, store = _app(tmp_path, auth=auth)
    headers = _bearer(store.current().admin) if auth else {}
    evil = client.post("/-/reload", headers={**headers, "Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "cross-site" in evil.json()["error"]
    fetch = client.post("/-/reload", headers={**headers, "Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    same = client.post("/-/reload", headers={**headers, "Origin": "http://vigie.test"})
    assert same.status_code == 200
    assert client.post("/-/reload", headers=headers).status_code == 200  # curl: no Origin


def test_cors_is_off_unless_configured(tmp_path: Path) -> None:
    """No CORS header by default; a configured origin gets preflight and allow-origin."""
    client, _ = _app(tmp_path, auth=False)
    plain = client.get("/api/v1/labels", headers={"Origin": "https://grafana.example"})
    assert "access-control-allow-origin" not in plain.headers
    preflight = {"Origin": "https://grafana.example", "Access-Control-Request-Method": "POST"}
    assert client.options("/api/v1/query", headers=preflight).status_code == 403
    client, _ = _app(tmp_path, auth=False, cors_origins=("https://grafana.example",))
    allowed = client.options("/api/v1/query", headers=preflight)
    assert allowed.status_code == 204
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    response = client.post("/api/v1/query", headers={"Origin": "https://grafana.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://grafana.example"


def test_security_headers_on_every_response(tmp_path: Path) -> None:
    """CSP without inline scripts, frame-ancestors none, nosniff, referrer policy; HSTS on TLS."""
    client, _ = _app(tmp_path, auth=False)
    headers = client.get("/ui/").headers
    assert headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP
    assert "frame-ancestors 'none'" in CSP
    assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in headers
    tls, _ = _app(tmp_path, auth=False, tls_cert_file="c.pem", tls_key_file="k.pem")
    assert tls.get("/ui/").headers["strict-transport-security"] == "max-age=31536000"
    assert client.get("/api/v1/labels").headers["x-content-type-options"] == "nosniff"


def test_body_size_limit(tmp_path: Path) -> None:
    """Bodies over the limit get 413, declared or streamed; smaller ones pass."""
    client, _ = _app(tmp_path, auth=False, max_body_size_bytes=1_000)
    assert client.post("/api/v1/write", content=b"x" * 1_000).text == "POST 1000"
    declared = client.post("/api/v1/write", content=b"x" * 1_001)
    assert declared.status_code == 413
    assert declared.json()["error"] == "request body larger than 1000 bytes"

    def chunks() -> object:
        for _ in range(10):
            yield b"y" * 300

    streamed = client.post("/api/v1/write", content=chunks())  # type: ignore[arg-type]
    assert streamed.status_code == 413


def test_ingest_and_login_rate_limits(tmp_path: Path) -> None:
    """Per-client token buckets answer 429 with Retry-After once the burst is spent."""
    client, _ = _app(tmp_path, auth=False, ingest_rate=0.001, ingest_burst=3)
    statuses = [client.post("/api/v1/write", content=b"x").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = client.post("/api/v1/write", content=b"x")
    assert limited.headers["retry-after"] == "1000"
    assert client.get("/api/v1/labels").status_code == 200  # reads are not ingest
    client, _ = _app(tmp_path, login_rate=0.001, login_burst=2)
    logins = [client.post("/login", data={"token": "x"}).status_code for _ in range(3)]
    assert logins == [401, 401, 429]


def test_rate_limits_key_on_the_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    """Behind a trusted proxy each client has its own bucket; a forged hop does not help."""
    store = TokenStore(tmp_path)
    store.load_or_create()
    app = SecurityMiddleware(
        Starlette(routes=[Route("/api/v1/write", _echo, methods=["POST"])]),
        settings=SecuritySettings(ingest_rate=0.001, ingest_burst=2,
                                  trusted_proxies=("10.0.0.0/8",)),
        tokens=None,
        auth_enabled=False,
    )  # fmt: skip
    proxy = TestClient(app, base_url="http://vigie.test", client=("10.1.2.3", 40000))

    def post(forwarded: str) -> int:
        response = proxy.post("/api/v1/write", content=b"x", headers={"X-Forwarded-For": forwarded})
        return response.status_code

    assert [post("203.0.113.5") for _ in range(3)] == [200, 200, 429]
    assert post("198.51.100.7") == 200  # another client behind the same proxy
    # The client wrote its own X-Forwarded-For; the proxy appended the address it saw.
    assert post("198.51.100.99, 203.0.113.5") == 429
    assert post("198.51.100.7, 10.9.9.9") == 200  # trusted hops are skipped, right to left
    assert post("198.51.100.7, 10.9.9.9") == 429
    # A peer that is not a trusted proxy cannot choose its bucket with the header.
    direct = TestClient(app, base_url="http://vigie.test", client=("192.0.2.44", 40000))
    codes = [
        direct.post("/api/v1/write", content=b"x", headers={"X-Forwarded-For": f"192.0.2.{n}"})
        for n in range(3)
    ]
    assert [response.status_code for response in codes] == [200, 200, 429]


def test_token_bucket_refills_and_survives_clock_jumps() -> None:
    """Tokens come back at the rate; a backwards clock jump does not drain or overfill."""
    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert [bucket.allow("a") for _ in range(3)] == [True, True, False]
    assert bucket.allow("b")  # per client
    now[0] += 0.5
    assert bucket.allow("a")
    assert not bucket.allow("a")
    now[0] -= 3600
    assert not bucket.allow("a")
    now[0] += 3600 + 10
    assert [bucket.allow("a") for _ in range(3)] == [True, True, False]


def test_token_bucket_memory_is_bounded() -> None:
    """At most max_clients buckets are kept."""
    bucket = TokenBucket(rate=1.0, burst=1, max_clients=100)
    for index in range(1_000):
        bucket.allow(f"10.0.{index // 256}.{index % 256}")
    assert len(bucket._buckets) == 100


def test_allowed_hosts_extend_the_loopback_names(tmp_path: Path) -> None:
    """A loopback listener without auth accepts vigie.security.allowed_hosts names only."""
    import asyncio

    async def call(host: str, allowed: tuple[str, ...]) -> int:
        app = SecurityMiddleware(
            Starlette(routes=[Route("/ui/", _echo)]),
            settings=SecuritySettings(allowed_hosts=allowed),
            tokens=None,
            auth_enabled=False,
        )
        scope = {"type": "http", "method": "GET", "path": "/ui/", "query_string": b"",
                 "headers": [(b"host", host.encode())], "server": ("127.0.0.1", 9800),
                 "client": ("127.0.0.1", 5555), "scheme": "http", "root_path": ""}  # fmt: skip
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app(scope, receive, send)  # type: ignore[arg-type]
        return int(sent[0]["status"])  # type: ignore[call-overload]

    assert asyncio.run(call("vigie.lan:9800", ())) == 403
    assert asyncio.run(call("vigie.lan:9800", ("vigie.lan",))) == 200
    assert asyncio.run(call("[::1]:9800", ())) == 200
