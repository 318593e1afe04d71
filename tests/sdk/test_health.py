"""The health registry: statuses, endpoints, timeouts that never hang, metrics, redaction."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

import vigie
from vigie.exceptions import HealthCheckError, InstrumentationError
from vigie.sdk.health import HealthRegistry, HealthResponse, default_health
from vigie.sdk.health._redaction import redact, safe_url


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that hanging checks wait on; set at teardown so no thread outlives the test."""
    event = threading.Event()
    yield event
    event.set()


def _body(response: HealthResponse | None) -> dict[str, object]:
    assert response is not None
    assert response.content_type == "application/json"
    document = json.loads(response.body)
    assert isinstance(document, dict)
    return document


def _fail() -> None:
    raise HealthCheckError("replica lag 42 s")


def test_all_checks_pass_gives_ok_200(registry: CollectorRegistry) -> None:
    """/health answers 200 with status ok, the version, the uptime and every check."""
    health = HealthRegistry(version="1.4.2", registry=registry)
    health.add_check("db", lambda: None)
    health.add_check("cache", lambda: "3 keys", required=False)
    response = health.respond("/health")
    assert response is not None
    assert response.status_code == 200
    document = _body(response)
    assert document["status"] == "ok"
    assert document["version"] == "1.4.2"
    assert isinstance(document["uptime_seconds"], float)
    assert document["uptime_seconds"] >= 0
    checks = document["checks"]
    assert isinstance(checks, dict)
    assert list(checks) == ["db", "cache"]
    assert checks["db"]["status"] == "ok"
    assert checks["db"]["message"] == "ok"
    assert checks["db"]["required"] is True
    assert checks["cache"] == {
        "status": "ok",
        "required": False,
        "latency_ms": checks["cache"]["latency_ms"],
        "message": "3 keys",
    }
    assert 0 <= checks["cache"]["latency_ms"] < 1000


def test_failing_optional_check_degrades_but_stays_200(registry: CollectorRegistry) -> None:
    """An optional check failing makes the app degraded, still 200 and still ready."""
    health = HealthRegistry(registry=registry)
    health.add_check("db", lambda: True)
    health.add_check("search", _fail, required=False)
    document = _body(health.respond("/health"))
    assert document["status"] == "degraded"
    assert document["checks"]["search"]["status"] == "failed"  # type: ignore[index]
    assert document["checks"]["search"]["message"] == "replica lag 42 s"  # type: ignore[index]
    assert health.respond("/health")
    ready = health.respond("/health/ready")
    assert ready is not None
    assert ready.status_code == 200
    assert list(_body(ready)["checks"]) == ["db"]  # type: ignore[arg-type]


def test_failing_required_check_is_down_503(registry: CollectorRegistry) -> None:
    """A required check failing makes the app down: 503 on /health and /health/ready."""
    health = HealthRegistry(registry=registry)
    health.add_check("db", lambda: False)
    health.add_check("boom", lambda: 1 / 0, required=False)
    response = health.respond("/health")
    assert response is not None
    assert response.status_code == 503
    document = _body(response)
    assert document["status"] == "down"
    assert document["checks"]["db"]["message"] == "check returned False"  # type: ignore[index]
    assert document["checks"]["boom"]["message"] == "ZeroDivisionError: division by zero"  # type: ignore[index]
    ready = health.respond("/health/ready/")
    assert ready is not None
    assert ready.status_code == 503


def test_live_runs_no_check_and_answers_200(registry: CollectorRegistry) -> None:
    """/health/live answers 200 at once, even when a check would fail."""
    calls: list[int] = []
    health = HealthRegistry(registry=registry)
    health.add_check("db", lambda: calls.append(1) or False)
    response = health.respond("/health/live")
    assert response is not None
    assert response.status_code == 200
    assert _body(response)["status"] == "ok"
    assert calls == []


def test_other_paths_are_not_health_paths(registry: CollectorRegistry) -> None:
    """Paths outside the health prefix give None, so the app handles them."""
    health = HealthRegistry(registry=registry, prefix="/_status")
    for path in ("/", "/health", "/healthz", "/_status/other", "/_statusx"):
        assert health.respond(path) is None, path
    assert asyncio.run(health.respond_async("/items")) is None
    response = health.respond("/_status")
    assert response is not None
    assert response.status_code == 200


def test_no_checks_is_ok(registry: CollectorRegistry) -> None:
    """An app without checks is ok."""
    document = _body(HealthRegistry(registry=registry).respond("/health"))
    assert document["status"] == "ok"
    assert document["checks"] == {}
    assert document["version"] is None


def test_hanging_sync_check_is_cut_by_its_timeout(
    registry: CollectorRegistry, release: threading.Event
) -> None:
    """A sync check that hangs is reported failed at its timeout; later calls answer at once."""
    health = HealthRegistry(registry=registry)
    health.add_check("hang", release.wait, timeout=0.2)
    health.add_check("db", lambda: True)
    started = time.monotonic()
    response = health.respond("/health")
    first = time.monotonic() - started
    assert response is not None
    assert response.status_code == 503
    checks = _body(response)["checks"]
    assert checks["hang"]["status"] == "failed"  # type: ignore[index]
    assert checks["hang"]["message"] == "timed out after 0.2 s"  # type: ignore[index]
    assert checks["db"]["status"] == "ok"  # type: ignore[index]
    assert 0.19 <= first < 2.0
    # The hung run is still in flight: later requests share it instead of adding threads.
    time.sleep(0.3)
    started = time.monotonic()
    for _ in range(20):
        health.respond("/health")
    assert time.monotonic() - started < 1.0
    hung = [thread for thread in threading.enumerate() if thread.name == "vigie-health-hang"]
    assert len(hung) == 1
    message = _body(health.respond("/health"))["checks"]["hang"]["message"]  # type: ignore[index]
    assert message.startswith("timed out: the previous run has been hanging for ")


def test_concurrent_requests_share_one_run(registry: CollectorRegistry) -> None:
    """Requests arriving while a check runs wait for that run rather than starting another."""
    calls: list[float] = []
    lock = threading.Lock()

    def slow() -> None:
        with lock:
            calls.append(time.monotonic())
        time.sleep(0.3)

    health = HealthRegistry(registry=registry)
    health.add_check("slow", slow, timeout=2.0)
    threads = [threading.Thread(target=health.respond, args=("/health",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1


def test_deadline_caps_every_check(registry: CollectorRegistry, release: threading.Event) -> None:
    """The registry deadline cuts a check before its own, longer, timeout."""
    health = HealthRegistry(registry=registry, deadline=0.2)
    health.add_check("hang", release.wait, timeout=30)
    started = time.monotonic()
    document = _body(health.respond("/health"))
    assert time.monotonic() - started < 2.0
    assert document["checks"]["hang"]["status"] == "failed"  # type: ignore[index]


def test_async_checks_run_on_the_loop_and_are_cut(registry: CollectorRegistry) -> None:
    """Under ASGI, async checks run as tasks; a hung one, even one ignoring cancel, is cut."""
    stop = asyncio.Event()

    async def fine() -> str:
        await asyncio.sleep(0.01)
        return "replied"

    async def hangs() -> None:
        await asyncio.sleep(3600)

    async def stubborn() -> None:
        while not stop.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue

    async def scenario() -> dict[str, object]:
        health = HealthRegistry(registry=registry)
        health.add_check("fine", fine)
        health.add_check("hangs", hangs, timeout=0.2)
        health.add_check("stubborn", stubborn, timeout=0.2, required=False)
        health.add_check("sync", lambda: "from a thread")
        started = time.monotonic()
        response = await health.respond_async("/health")
        assert time.monotonic() - started < 2.0
        stop.set()
        await asyncio.sleep(0.1)
        return _body(response)

    document = asyncio.run(scenario())
    checks = document["checks"]
    assert document["status"] == "down"
    assert checks["fine"]["message"] == "replied"  # type: ignore[index]
    assert checks["sync"]["message"] == "from a thread"  # type: ignore[index]
    assert checks["hangs"]["message"] == "timed out after 0.2 s"  # type: ignore[index]
    assert checks["stubborn"]["status"] == "failed"  # type: ignore[index]


def test_async_check_through_the_sync_path(registry: CollectorRegistry) -> None:
    """Under WSGI, an async check runs on a private loop in a thread, with its timeout."""

    async def fine() -> str:
        await asyncio.sleep(0.01)
        return "async ok"

    async def hangs() -> None:
        await asyncio.sleep(3600)

    health = HealthRegistry(registry=registry)
    health.add_check("fine", fine)
    health.add_check("hangs", hangs, timeout=0.2)
    started = time.monotonic()
    checks = _body(health.respond("/health"))["checks"]
    assert time.monotonic() - started < 2.0
    assert checks["fine"]["message"] == "async ok"  # type: ignore[index]
    assert checks["hangs"]["status"] == "failed"  # type: ignore[index]


def test_sync_hang_does_not_block_the_event_loop(
    registry: CollectorRegistry, release: threading.Event
) -> None:
    """While a sync check hangs in its thread, the event loop keeps serving other work."""

    async def scenario() -> int:
        health = HealthRegistry(registry=registry)
        health.add_check("hang", release.wait, timeout=0.3)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await health.respond_async("/health")
        task.cancel()
        return ticks

    assert asyncio.run(scenario()) >= 10


def test_metrics_follow_the_checks(registry: CollectorRegistry) -> None:
    """Each run exports check status, duration, failures and the overall status."""
    healthy = [True]
    health = HealthRegistry(registry=registry)
    health.add_check("db", lambda: healthy[0])
    health.add_check("search", _fail, required=False)
    health.run()
    value = registry.get_sample_value
    assert value("vigie_health_check_status", {"check": "db"}) == 1.0
    assert value("vigie_health_check_status", {"check": "search"}) == 0.0
    assert value("vigie_health_check_failures_total", {"check": "db"}) == 0.0
    assert value("vigie_health_check_failures_total", {"check": "search"}) == 1.0
    duration = value("vigie_health_check_duration_seconds", {"check": "db"})
    assert duration is not None
    assert 0 <= duration < 1
    assert value("vigie_health_status", {"status": "degraded"}) == 1.0
    assert value("vigie_health_status", {"status": "ok"}) == 0.0
    healthy[0] = False
    health.run()
    assert value("vigie_health_check_status", {"check": "db"}) == 0.0
    assert value("vigie_health_check_failures_total", {"check": "search"}) == 2.0
    assert value("vigie_health_status", {"status": "down"}) == 1.0
    assert value("vigie_health_status", {"status": "degraded"}) == 0.0
    health.remove_check("search")
    assert value("vigie_health_check_status", {"check": "search"}) is None
    assert health.names == ["db"]


def test_decorator_registers_with_options(registry: CollectorRegistry) -> None:
    """`check` registers bare or with options, naming the check after the function."""
    health = HealthRegistry(registry=registry)

    @health.check
    def index_loaded() -> bool:
        return True

    @health.check(name="llm", timeout=0.5, required=False)
    async def llm_backend() -> str:
        return "reachable"

    assert health.names == ["index_loaded", "llm"]
    assert index_loaded() is True
    document = _body(health.respond("/health"))
    assert document["checks"]["llm"] == {  # type: ignore[index]
        "status": "ok",
        "required": False,
        "latency_ms": document["checks"]["llm"]["latency_ms"],  # type: ignore[index]
        "message": "reachable",
    }


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"name": "", "function": print}, "non-empty name"),
        ({"name": "x", "function": 3}, "is not callable"),
        ({"name": "x", "function": print, "timeout": 0}, "timeout must be a positive"),
        ({"name": "x", "function": print, "timeout": float("inf")}, "timeout must be a positive"),
    ],
)
def test_bad_registration_fails_at_once(arguments: dict[str, object], fragment: str) -> None:
    """Misuse at definition time raises InstrumentationError naming the problem."""
    with pytest.raises(InstrumentationError, match=fragment):
        HealthRegistry().add_check(**arguments)  # type: ignore[arg-type]


def test_duplicate_and_unknown_names_fail() -> None:
    """Registering a name twice, or removing an unknown one, raises."""
    health = HealthRegistry()
    health.add_check("db", print)
    with pytest.raises(InstrumentationError, match="'db' is already registered"):
        health.add_check("db", print)
    with pytest.raises(InstrumentationError, match="no health check named 'nope'"):
        health.remove_check("nope")
    with pytest.raises(InstrumentationError, match="prefix"):
        HealthRegistry(prefix="health/")


def test_messages_never_show_secrets(registry: CollectorRegistry) -> None:
    """A check whose error holds a connection URL or a password shows them masked."""

    def leaky() -> None:
        raise ConnectionError(
            "could not connect to postgresql://faq:hunter2@db.internal:5432/faq "
            "(dsn: host=db password=hunter2 sslmode=require)"
        )

    health = HealthRegistry(registry=registry)
    health.add_check("db", leaky)
    response = health.respond("/health")
    assert response is not None
    assert b"hunter2" not in response.body
    message = _body(response)["checks"]["db"]["message"]  # type: ignore[index]
    assert message == (
        "ConnectionError: could not connect to postgresql://***@db.internal:5432/faq "
        "(dsn: host=db password=*** sslmode=require)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:s3cret@cache:6379/0 down", "redis://***@cache:6379/0 down"),
        ("https://user:p/ss@api.example/x", "https://***@api.example/x"),
        ("http://api.example/v1?token=abc&x=1", "http://api.example/v1?token=***&x=1"),
        ("API_KEY = 'sk-123' rejected", "API_KEY = *** rejected"),
        ("multi\nline\tmessage", "multi line message"),
        ("plain text", "plain text"),
        ("no user alice@example.com", "no user [REDACTED:email]"),
        (
            "header Authorization: Bearer abcdef123456",
            "header Authorization: Bearer [REDACTED:bearer]",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    """URL credentials, secret values and personal data are masked; whitespace is folded."""
    assert redact(text) == expected


def test_redact_truncates_long_messages() -> None:
    """A message longer than 300 characters is cut with an ellipsis."""
    assert len(redact("x" * 1000)) == 300
    assert redact("x" * 1000).endswith("…")


def test_safe_url_drops_credentials_query_and_fragment() -> None:
    """safe_url keeps scheme, host, port and path only."""
    assert (
        safe_url("https://u:p@api.example:8443/v1/x?key=1#top") == "https://api.example:8443/v1/x"
    )
    assert safe_url("http://[::1]:9000/h") == "http://[::1]:9000/h"


def test_module_functions_use_the_default_registry() -> None:
    """vigie.health.add_check, check, set_version and remove_check act on default_health()."""
    assert vigie.health.default_health() is default_health()
    previous = default_health().version
    vigie.health.add_check("test_module_db", lambda: True)

    @vigie.health.check(required=False)
    def test_module_cache() -> bool:
        return False

    try:
        vigie.health.set_version("9.9.9")
        assert default_health().version == "9.9.9"
        assert default_health().names[-2:] == ["test_module_db", "test_module_cache"]
    finally:
        vigie.health.remove_check("test_module_db")
        vigie.health.remove_check("test_module_cache")
        vigie.health.set_version(previous)


def test_served_from_a_real_starlette_route(registry: CollectorRegistry) -> None:
    """respond_async answers from a Starlette route driven through a real ASGI client."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    health = HealthRegistry(version="2.0", registry=registry)

    async def llm() -> str:
        await asyncio.sleep(0)
        return "ok"

    health.add_check("llm", llm)

    async def endpoint(request: Request) -> Response:
        answer = await health.respond_async(request.url.path)
        assert answer is not None
        return Response(answer.body, answer.status_code, media_type=answer.content_type)

    app = Starlette(routes=[Route("/health{rest:path}", endpoint)])

    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return [await client.get(path) for path in ("/health", "/health/live")]

    full, live = asyncio.run(fetch())
    assert full.status_code == 200
    assert full.json()["checks"]["llm"]["status"] == "ok"
    assert full.json()["version"] == "2.0"
    assert live.status_code == 200


def test_import_loads_no_optional_library() -> None:
    """`import vigie.health` loads neither SQLAlchemy, Alembic, httpx nor asyncio."""
    import subprocess
    import sys

    code = (
        "import sys, vigie\n"
        "vigie.health.add_check('x', lambda: True)\n"
        "vigie.health.run()\n"
        "print(sorted({'sqlalchemy', 'alembic', 'httpx', 'asyncio'} & set(sys.modules)))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert output == "[]"


def test_check_raising_system_exit_is_a_failure_not_a_hang(registry: CollectorRegistry) -> None:
    """Even a BaseException in a check resolves its run: reported failed, next run starts fresh."""
    calls: list[int] = []

    def exits() -> None:
        calls.append(1)
        raise SystemExit(3)

    health = HealthRegistry(registry=registry)
    health.add_check("exits", exits, timeout=1.0)
    first = health.run().checks[0]
    second = health.run().checks[0]
    assert (first.ok, first.message) == (False, "SystemExit: 3")
    assert second.message == "SystemExit: 3"
    assert len(calls) == 2
