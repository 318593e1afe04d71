"""Safe by default: authentication, security headers, CSRF and CORS, body and rate limits.

:class:`SecurityMiddleware` is a pure ASGI middleware wrapped around the whole server app. It:

- **authenticates** when auth is on (``vigie.security.auth: on``, or ``auto`` — the default — with
  the server listening beyond loopback): the *admin* token for every state-changing request
  (config reload, silences, remote write, OTLP, alerts, quality samples), the *viewer* or admin
  token for the UI and read APIs. A token comes as ``Authorization: Bearer``, as the password of
  ``Basic`` auth (what Prometheus' ``remote_write.basic_auth`` and Grafana send), or through a
  session cookie set by ``POST /login``. ``/-/healthy``, ``/-/ready`` and static assets stay open.
- refuses **cross-site state changes** (CSRF): an unsafe method whose ``Origin`` is neither the
  server itself nor a configured CORS origin gets 403 — auth on or off, so a web page cannot make
  a local browser reload the config or silence alerts. The session cookie is also
  ``SameSite=Strict; HttpOnly``.
- answers **CORS** only for ``vigie.security.cors_origins`` (none by default).
- refuses **DNS rebinding** without auth: on a loopback listener, a ``Host`` that is not
  ``localhost``, a loopback address or one of ``vigie.security.allowed_hosts`` gets 403.
- adds **security headers** to every response: a CSP without inline scripts and with
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``, HSTS
  under TLS.
- caps **request bodies** (413) and **rate-limits** ingest and login per client (429, token
  bucket).

Example::

    app = SecurityMiddleware(create_app(server), settings=SecuritySettings(auth="on"),
                             tokens=TokenStore(data_dir), auth_enabled=True)
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, quote

from vigie.exceptions import ConfigurationError
from vigie.server.secrets_store import Role, TokenStore, fingerprint

if TYPE_CHECKING:
    import yaml
    from starlette.middleware import Middleware

    from vigie.server.config import _Reader
    from vigie.server.config_model import Authorization
    from vigie.server.runtime import Server

__all__ = [
    "CSP",
    "SecurityMiddleware",
    "SecuritySettings",
    "TokenBucket",
    "auth_enabled",
    "check_listen_address",
    "is_loopback",
    "security_settings",
    "self_scrape_authorization",
    "self_scrape_tls_context",
    "server_middleware",
    "tls_options",
]

logger = logging.getLogger("vigie.server.security")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

AuthMode = Literal["auto", "on", "off"]

#: Scripts only from the server itself (no inline script, no eval); styles may be inline because
#: the plotting library sets element styles; nothing may frame the UI.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Reachable without a token: probes (a load balancer has no token), the login form, assets.
_PUBLIC = frozenset({"/-/healthy", "/-/ready", "/login", "/logout", "/favicon.ico"})
_PUBLIC_PREFIXES = ("/ui/static/",)
#: Prometheus API reads that also accept POST (Grafana queries by POST): viewer is enough.
_READ_POSTS = frozenset(
    {
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/query_exemplars",
        "/api/v1/format_query",
    }
)
#: Ingest endpoints, rate-limited per client.
INGEST_PATHS = frozenset(
    {
        "/api/v1/write",
        "/v1/traces",
        "/v1/logs",
        "/api/v2/alerts",
        "/api/v1/quality/samples",
        "/api/v1/quality/reference",
    }
)
SESSION_COOKIE = "vigie_session"
_MAX_SESSIONS = 10_000
_MAX_CLIENTS = 10_000
_LOGIN_BODY_LIMIT = 4_096


@dataclass(frozen=True)
class SecuritySettings:
    """``vigie.security``: who may reach what, over which transport, within which limits.

    Rates are requests per second per client address (0 turns the limit off); ``*_burst`` is
    how many may come at once.
    """

    auth: AuthMode = "auto"
    tls_cert_file: str = ""
    tls_key_file: str = ""
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    max_body_size_bytes: int = 32 << 20
    ingest_rate: float = 1_000.0
    ingest_burst: int = 2_000
    login_rate: float = 0.2
    login_burst: int = 5
    session_ttl_ms: int = 12 * 3_600_000
    #: Reverse proxies (addresses or networks) whose ``X-Forwarded-For`` names the client.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert_file)


def security_settings(reader: _Reader, node: yaml.Node, field: str) -> SecuritySettings:
    """Read the ``vigie.security`` section, errors located as ``file:line: field: reason``."""
    from vigie.server.config import parse_size

    keys = {"auth", "tls", "cors_origins", "allowed_hosts", "limits", "trusted_proxies"}
    parts = reader.fields(node, field, keys)
    changes: dict[str, Any] = {}
    if "auth" in parts:
        value_node, name = parts["auth"]
        # YAML reads a bare on/off as a boolean: accept both spellings.
        value = reader.scalar(value_node, name).lower()
        value = {"true": "on", "false": "off", "yes": "on", "no": "off"}.get(value, value)
        if value not in ("auto", "on", "off"):
            raise reader.fail(value_node, name, f"expected auto, on or off, got {value!r}")
        changes["auth"] = value
    if "tls" in parts:
        tls = reader.fields(*parts["tls"], {"cert_file", "key_file"})
        if set(tls) != {"cert_file", "key_file"}:
            raise reader.fail(parts["tls"][0], parts["tls"][1], "give both cert_file and key_file")
        for key in ("cert_file", "key_file"):
            path = reader.resolve(reader.string(*tls[key]))
            if not Path(path).is_file():
                raise reader.fail(tls[key][0], tls[key][1], f"no such file {path!r}")
            changes[f"tls_{key}"] = path
    if "cors_origins" in parts:
        origins = reader.strings(*parts["cors_origins"])
        for index, origin in enumerate(origins):
            if origin == "*" or not origin.startswith(("http://", "https://")):
                item = parts["cors_origins"][0].value[index]
                raise reader.fail(item, f"{parts['cors_origins'][1]}[{index}]",
                                  f"expected an origin like https://grafana.example.org, "
                                  f"got {origin!r}")  # fmt: skip
        changes["cors_origins"] = tuple(origin.rstrip("/") for origin in origins)
    if "allowed_hosts" in parts:
        hosts = reader.strings(*parts["allowed_hosts"])
        changes["allowed_hosts"] = tuple(host.lower() for host in hosts)
    if "trusted_proxies" in parts:
        proxies = reader.strings(*parts["trusted_proxies"])
        for index, proxy in enumerate(proxies):
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                item = parts["trusted_proxies"][0].value[index]
                raise reader.fail(item, f"{parts['trusted_proxies'][1]}[{index}]",
                                  f"expected an address or network like 10.0.0.0/8, "
                                  f"got {proxy!r}") from None  # fmt: skip
        changes["trusted_proxies"] = tuple(proxies)
    if "limits" in parts:
        limit_keys = {"max_body_size", "ingest_rate", "ingest_burst", "login_rate", "login_burst",
                      "session_ttl"}  # fmt: skip
        limits = reader.fields(*parts["limits"], limit_keys)
        if "max_body_size" in limits:
            changes["max_body_size_bytes"] = reader.converted(*limits["max_body_size"], parse_size)
        for key in ("ingest_rate", "login_rate"):
            if key in limits:
                changes[key] = reader.converted(*limits[key], _rate)
        for key in ("ingest_burst", "login_burst"):
            if key in limits:
                changes[key] = max(1, reader.integer(*limits[key]))
        if "session_ttl" in limits:
            changes["session_ttl_ms"] = reader.positive_duration(*limits["session_ttl"])
    return SecuritySettings(**changes)


def _rate(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected a non-negative number of requests per second, got {text!r}")
    return value


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_enabled(settings: SecuritySettings, host: str) -> bool:
    """Whether requests must carry a token: ``on``; or ``auto`` beyond loopback."""
    return settings.auth == "on" or (settings.auth == "auto" and not is_loopback(host))


def check_listen_address(settings: SecuritySettings, host: str) -> None:
    """Refuse to listen beyond loopback without authentication (raises ConfigurationError)."""
    if not is_loopback(host) and not auth_enabled(settings, host):
        raise ConfigurationError(
            f"refusing to listen on {host!r} with vigie.security.auth: off: anyone who can reach "
            "the port could read all data and change the configuration. Listen on 127.0.0.1, "
            "or set vigie.security.auth to auto or on (tokens are created in DATA_DIR/secrets)",
            field="vigie.security.auth",
        )


def tls_options(settings: SecuritySettings) -> dict[str, str]:
    """uvicorn's keyword arguments for TLS (empty without a certificate pair)."""
    if not settings.tls:
        return {}
    return {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}


class TokenBucket:
    """Per-client token buckets: ``rate`` requests per second, ``burst`` at once.

    Memory is bounded: at most ``max_clients`` buckets, the least recently seen dropped first.

    >>> bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: 0.0)
    >>> [bucket.allow("10.0.0.1") for _ in range(3)]
    [True, True, False]
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = _MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, client: str) -> bool:
        """Take one token for ``client``; False when it has none left (answer 429)."""
        if self.rate <= 0:
            return True
        now = self.clock()
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        # max(): a clock that went backwards must not drain the bucket.
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return allowed

    def retry_after(self) -> int:
        """Seconds until one token is back."""
        return max(1, int(1 / self.rate + 0.999)) if self.rate > 0 else 0


@dataclass
class _Session:
    role: Role
    token_fingerprint: str
    expires: float


class SecurityMiddleware:
    """Authentication, CSRF, CORS, headers and limits in front of the server app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: SecuritySettings,
        tokens: TokenStore | None,
        auth_enabled: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if auth_enabled and tokens is None:
            raise ConfigurationError("authentication is on but no token store was given")
        self.app = app
        self.settings = settings
        self.tokens = tokens
        self.auth_enabled = auth_enabled
        self.clock = clock
        self.cors_origins = frozenset(settings.cors_origins)
        self.allowed_hosts = frozenset(settings.allowed_hosts)
        self.ingest_limit = TokenBucket(settings.ingest_rate, settings.ingest_burst, clock=clock)
        self.login_limit = TokenBucket(settings.login_rate, settings.login_burst, clock=clock)
        self._proxies = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies
        )
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._extra = [*_HEADERS, _HSTS] if settings.tls else list(_HEADERS)

    def client_address(self, scope: Scope) -> str:
        """The client's address, for rate limits and logs: the TCP peer, or behind a trusted
        reverse proxy the nearest untrusted address of ``X-Forwarded-For`` (read right to left,
        as each proxy appends the address it received from, so a client cannot forge its way
        past the proxies: an address it wrote itself sits left of the one its proxy saw).
        """
        peer = _client(scope)
        if not self._proxies or not self._trusted(peer):
            return peer
        # Every X-Forwarded-For line, in order: a proxy may add its own line after the client's.
        lines = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() == b"x-forwarded-for"
        ]
        forwarded = [part.strip() for part in ",".join(lines).split(",")]
        for address in reversed([part for part in forwarded if part]):
            if not self._trusted(address):
                return address
        return peer

    def _trusted(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self._proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if scope["type"] != "http":  # websockets: same authentication, no body
            if self.auth_enabled and self._role(headers) is None:
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        origin = headers.get("origin")
        cors = origin is not None and origin.rstrip("/") in self.cors_origins
        reply = _Replier(send, self._extra, origin if cors else None)

        if not self.auth_enabled and not self._host_allowed(scope, headers):
            await reply.error(403, "forbidden", "unexpected Host header (DNS rebinding?); "
                              "add it to vigie.security.allowed_hosts")  # fmt: skip
            return
        if method == "OPTIONS" and origin is not None:
            await self._preflight(reply, cors)
            return
        if method not in _SAFE_METHODS and not cors and not _same_origin(scope, headers):
            await reply.error(403, "forbidden", "cross-site request refused (Origin mismatch)")
            return
        client = self.client_address(scope)
        if path in INGEST_PATHS and method == "POST" and not self.ingest_limit.allow(client):
            await reply.error(429, "too_many_requests", "ingest rate limit exceeded",
                              retry_after=self.ingest_limit.retry_after())  # fmt: skip
            return
        if path == "/login" and method == "POST":
            if not self.login_limit.allow(client):
                wait = self.login_limit.retry_after()  # the form again, saying how long to wait
                page = _login_page(_next_of(scope), retry_after=wait).encode()
                await reply.send_raw(429, [(b"content-type", b"text/html; charset=utf-8"),
                                           (b"retry-after", str(wait).encode())], page)  # fmt: skip
                return
            await self._login(scope, receive, reply)
            return
        if path == "/login" and self.auth_enabled:
            await reply.html(200, _login_page(_next_of(scope)))
            return
        if path == "/logout":
            await self._logout(headers, reply)
            return
        if self.auth_enabled and not _public(path):
            role = self._role(headers)
            needed: Role = "viewer" if method in _SAFE_METHODS or path in _READ_POSTS else "admin"
            if role is None:
                if method == "GET" and _page(path):
                    await reply.redirect("/login?next=" + quote(_path_with_query(scope), safe=""))
                else:
                    await reply.error(401, "unauthorized", "a valid token is required",
                                      authenticate=True)  # fmt: skip
                return
            if needed == "admin" and role != "admin":
                await reply.error(403, "forbidden", "this request needs the admin token")
                return
        await self._forward(scope, receive, reply, headers)

    def _host_allowed(self, scope: Scope, headers: dict[str, str]) -> bool:
        """On a loopback listener, only loopback names reach an unauthenticated server.

        A web page whose domain is re-pointed to 127.0.0.1 (DNS rebinding) is same-origin with
        itself, so the Origin check does not stop it; its requests carry its own Host, stopped here.
        """
        server = scope.get("server")
        if not server or not is_loopback(str(server[0])):
            return True  # not a loopback listener (or an in-process test client)
        host = headers.get("host", "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        return (
            name in self.allowed_hosts
            or is_loopback(name)
            or name == "localhost"
            or name.endswith(".localhost")
        )

    # -- authentication -------------------------------------------------------------------------

    def _role(self, headers: dict[str, str]) -> Role | None:
        assert self.tokens is not None
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return self.tokens.role_of(credentials.strip())
        if scheme == "basic":
            import base64
            import binascii

            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            return self.tokens.role_of(decoded.partition(":")[2])
        session_id = _cookie(headers, SESSION_COOKIE)
        if session_id is None:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        current = fingerprint(self.tokens.current().get(session.role))
        if session.expires < self.clock() or session.token_fingerprint != current:
            del self._sessions[session_id]  # expired, or its token was rotated
            return None
        return session.role

    async def _login(self, scope: Scope, receive: Receive, reply: _Replier) -> None:
        if not self.auth_enabled or self.tokens is None:
            await reply.redirect("/ui/")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > _LOGIN_BODY_LIMIT:
                await reply.error(413, "bad_data", "login form too large")
                return
            if not message.get("more_body", False):
                break
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        token = (form.get("token") or [""])[0]
        target = _safe_next((form.get("next") or ["/ui/"])[0])
        role = self.tokens.role_of(token) if token else None
        if role is None:
            logger.warning("failed login from %s", self.client_address(scope))
            await reply.html(401, _login_page(target, failed=True))
            return
        session_id = secrets.token_urlsafe(32)
        ttl = self.settings.session_ttl_ms / 1000
        self._sessions[session_id] = _Session(
            role, fingerprint(self.tokens.current().get(role)), self.clock() + ttl
        )
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        secure = "; Secure" if self.settings.tls else ""
        cookie = (
            f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict; "
            f"Max-Age={int(ttl)}{secure}"
        )
        await reply.redirect(target, cookie=cookie)

    async def _logout(self, headers: dict[str, str], reply: _Replier) -> None:
        session_id = _cookie(headers, SESSION_COOKIE)
        if session_id is not None:
            self._sessions.pop(session_id, None)
        cookie = f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        await reply.redirect("/login" if self.auth_enabled else "/ui/", cookie=cookie)

    async def _preflight(self, reply: _Replier, cors: bool) -> None:
        if not cors:
            await reply.error(403, "forbidden", "origin not allowed (vigie.security.cors_origins)")
            return
        await reply.send_raw(
            204,
            [
                (b"access-control-allow-methods", b"GET, POST, PUT, DELETE"),
                (
                    b"access-control-allow-headers",
                    b"authorization, content-type, content-encoding, "
                    b"x-prometheus-remote-write-version",
                ),
                (b"access-control-max-age", b"600"),
            ],
            b"",
        )

    # -- forwarding with a body limit -----------------------------------------------------------

    async def _forward(
        self, scope: Scope, receive: Receive, reply: _Replier, headers: dict[str, str]
    ) -> None:
        limit = self.settings.max_body_size_bytes
        declared = headers.get("content-length", "")
        if limit and declared.isdigit() and int(declared) > limit:
            await reply.error(413, "bad_data", f"request body larger than {limit} bytes")
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if limit and received > limit:
                if not reply.started:
                    await reply.error(413, "bad_data", f"request body larger than {limit} bytes")
                reply.closed = True  # whatever the app answers now is dropped
                return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, limited_receive if limit else receive, reply.send)
        except Exception:
            if not reply.closed:
                raise


class _Replier:
    """Sends our own answers and passes the app's through, adding the security headers."""

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]], cors: str | None) -> None:
        self._send = send
        self._extra = extra
        self._cors = cors
        self.started = False
        self.closed = False

    async def send(self, message: Message) -> None:
        if self.closed:
            return
        if message["type"] == "http.response.start":
            self.started = True
            present = {name.lower() for name, _ in message.get("headers", ())}
            added = [(name, value) for name, value in self._extra if name not in present]
            if self._cors is not None:
                added += [
                    (b"access-control-allow-origin", self._cors.encode("latin-1")),
                    (b"vary", b"Origin"),
                ]
            message["headers"] = [*message.get("headers", ()), *added]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            await self._send(message)
            self.closed = True
            return
        await self._send(message)

    async def send_raw(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def error(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        retry_after: int = 0,
        authenticate: bool = False,
    ) -> None:
        """The ``/api/v1`` error envelope, so API clients read the reason as usual."""
        body = json.dumps({"status": "error", "errorType": error_type, "error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        if retry_after:
            headers.append((b"retry-after", str(retry_after).encode()))
        if authenticate:
            headers.append((b"www-authenticate", b'Bearer realm="vigie"'))
        await self.send_raw(status, headers, body)

    async def html(self, status: int, page: str) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        await self.send_raw(status, headers, page.encode())

    async def redirect(self, location: str, *, cookie: str | None = None) -> None:
        headers = [(b"location", location.encode("latin-1", "replace"))]
        if cookie is not None:
            headers.append((b"set-cookie", cookie.encode("latin-1")))
        await self.send_raw(303, headers, b"")


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        if key not in found:  # the first of repeated headers wins, as in Starlette
            found[key] = value.decode("latin-1")
    return found


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _cookie(headers: dict[str, str], name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is the client's problem: no session
        return None
    morsel = jar.get(name)
    return str(morsel.value) if morsel is not None else None


def _same_origin(scope: Scope, headers: dict[str, str]) -> bool:
    """True unless a browser says the request comes from another site.

    Requests without ``Origin`` (curl, Prometheus, SDKs) are not cross-site forgeries: browsers
    send ``Origin`` on every cross-origin unsafe request.
    """
    origin = headers.get("origin")
    if origin is None:
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    host = headers.get("host", "")
    scheme = scope.get("scheme", "http")
    return origin.rstrip("/") == f"{scheme}://{host}"


def _public(path: str) -> bool:
    return path in _PUBLIC or path.startswith(_PUBLIC_PREFIXES)


def _page(path: str) -> bool:
    """A page a person opens in a browser (sent to the login form rather than a 401)."""
    return path == "/" or path == "/ui" or (path.startswith("/ui/") and "/api/" not in path)


def _path_with_query(scope: Scope) -> str:
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    path: str = scope["path"]
    return path + (f"?{query}" if query else "")


def _next_of(scope: Scope) -> str:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), max_num_fields=8)
    return _safe_next((query.get("next") or ["/ui/"])[0])


def _safe_next(target: str) -> str:
    """Only local paths: ``//evil.example`` or ``https://...`` would be an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/ui/"
    return target


def _login_page(next_path: str, *, failed: bool = False, retry_after: int = 0) -> str:
    """The UI's sign-in form (``vigie.server.ui.login_page``: styled, no script)."""
    from vigie.server.ui import login_page

    return login_page(next_path, failed=failed, retry_after=retry_after)


def server_middleware(server: Server) -> list[Middleware]:
    """The security middleware for ``server``'s app; refuses an unsafe listen address.

    With auth on, the tokens are loaded (created on first start) and a fresh per-process token
    is written for the server's own self-scrape (``DATA_DIR/secrets/self_scrape_token``).
    """
    from starlette.middleware import Middleware

    settings = server.config.vigie.security
    host = server.options.host
    check_listen_address(settings, host)
    enabled = auth_enabled(settings, host)
    tokens: TokenStore | None = None
    if enabled:
        tokens = TokenStore(server.options.data_dir)
        tokens.load_or_create()
        tokens.write_self_scrape_token()
        logger.info("authentication on: tokens in %s ('vigie tokens show')", tokens.path)
    return [Middleware(SecurityMiddleware, settings=settings, tokens=tokens, auth_enabled=enabled)]


def self_scrape_authorization(data_dir: Path) -> Authorization | None:
    """How the server's self-monitoring job authenticates to its own ``/metrics`` (or None)."""
    from vigie.server.config_model import Authorization

    path = TokenStore(data_dir).self_scrape_path
    return Authorization("Bearer", credentials_file=str(path)) if path.is_file() else None


_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----"
)


def self_scrape_tls_context(cert_file: str) -> ssl.SSLContext:
    """The TLS context of the self-scrape: it trusts exactly the server's own certificate.

    The certificate (the first of ``cert_file``, the leaf) is *pinned*: it is the only trust
    anchor, so no other certificate, even one from a public CA, is accepted. The host name is not
    checked because the self-scrape connects to a loopback address that the certificate rarely
    names (``vigie.example.org``), and pinning already proves the peer holds the server's key.
    Raises :class:`ConfigurationError` when the file holds no PEM certificate.

    Example::

        client = httpx.AsyncClient(verify=self_scrape_tls_context("/etc/vigie/tls/cert.pem"))
    """
    try:
        text = Path(cert_file).read_text(encoding="ascii", errors="replace")
    except OSError as error:
        raise ConfigurationError(
            f"cannot read {cert_file!r}: {error.strerror}", field="vigie.security.tls.cert_file"
        ) from None
    found = _PEM_CERTIFICATE.search(text)
    if found is None:
        raise ConfigurationError(
            f"no PEM certificate in {cert_file!r}", field="vigie.security.tls.cert_file"
        )
    context = ssl.create_default_context(cadata=found.group(0))
    context.check_hostname = False
    # Lets the (usually CA-issued) leaf itself be the trust anchor.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context
