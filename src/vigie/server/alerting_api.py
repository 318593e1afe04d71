"""Alertmanager API v2 (alerts, silences, status), notification history and runbooks over HTTP.

The ``/api/v2`` routes answer what Alertmanager answers, so ``amtool``, Prometheus's
``alerting.alertmanagers`` and Grafana's Alertmanager data source work against vigie unchanged:

* ``POST /api/v2/alerts`` takes Prometheus's postable alerts (200, or 400 naming the alert index
  and field, nothing of the batch taken); ``GET /api/v2/alerts`` lists the alerts that are not
  resolved with their receivers and silence/inhibition status (``filter``, ``receiver``,
  ``active``, ``silenced``, ``inhibited``, ``unprocessed``).
* ``GET/POST /api/v2/silences``, ``GET/DELETE /api/v2/silence/{id}``, ``GET /api/v2/receivers``
  and a minimal ``GET /api/v2/status``.
* ``GET /api/v1/notifications``: vigie's notification history, with the delivery state of each
  notification (``pending``, ``delivered``, ``failed``), in the ``{status, data}`` envelope.
* ``GET /runbooks/{alertname}``: the rule pack's runbook as HTML (``?format=md`` for markdown);
  the ``runbook_url`` annotation of the pack's alerts points here.

Example::

    $ amtool --alertmanager.url=http://127.0.0.1:9800 silence add alertname=TargetDown -c deploy
    $ curl -s http://127.0.0.1:9800/api/v1/notifications | jq '.data[0].state'
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from vigie import __version__
from vigie.exceptions import PayloadError, RoutingConfigError
from vigie.notify.alert import format_time
from vigie.notify.api_models import gettable_alert, parse_postable_alerts
from vigie.notify.matchers import matches_all, parse_matcher
from vigie.notify.service import NotificationService
from vigie.notify.silences import Silence
from vigie.rules.packs.ai import runbook
from vigie.store.interface import Matcher

if TYPE_CHECKING:
    from vigie.server.runtime import Server

__all__ = ["AM_API_VERSION", "MAX_BODY_BYTES", "render_markdown", "routes"]

Handler = Callable[[Request], Awaitable[Response]]

#: Largest alerts or silence body accepted (Prometheus sends batches of 64 alerts).
MAX_BODY_BYTES = 16 << 20
#: The Alertmanager version whose API v2 these routes follow.
AM_API_VERSION = "0.25.0"
_ALERTNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _RefusedError(Exception):
    """An answer other than 200: status code and message (sent as a JSON string, as Alertmanager
    does)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> datetime:
    return datetime.now(UTC)


def _flag(request: Request, name: str) -> bool:
    """An Alertmanager boolean query parameter (default true)."""
    value = request.query_params.get(name, "true").lower()
    if value not in ("true", "false", "1", "0"):
        raise _RefusedError(400, f"{name}: expected true or false, got {value!r}")
    return value in ("true", "1")


def _filters(request: Request) -> list[Matcher]:
    try:
        return [parse_matcher(text) for text in request.query_params.getlist("filter")]
    except RoutingConfigError as error:
        raise _RefusedError(400, f"filter: {error.message}") from None


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _RefusedError(413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise _RefusedError(400, f"body is not JSON: {error}") from None


def routes(server: Server) -> list[tuple[str, Handler, list[str]]]:
    """``(path, handler, methods)`` of the alerting routes of ``server``."""

    def service() -> NotificationService:
        if server.notifications is None:
            raise _RefusedError(503, "Service Unavailable")
        return server.notifications

    def answered(work: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                data = await work(request)
            except _RefusedError as refused:
                return JSONResponse(refused.message, status_code=refused.status)
            if isinstance(data, Response):
                return data
            return JSONResponse(data)

        return handler

    async def post_alerts(request: Request) -> Response:
        notifications = service()
        body = _without_zero_times(await _json_body(request))
        now = notifications.now()
        try:
            alerts = parse_postable_alerts(
                body, now=now, resolve_timeout=notifications.config.resolve_timeout
            )
        except PayloadError as error:
            raise _RefusedError(400, error.message) from None
        await asyncio.to_thread(notifications.receive, alerts)
        return Response(status_code=200)

    async def get_alerts(request: Request) -> list[dict[str, Any]]:
        notifications = service()
        matchers = _filters(request)
        show = {name: _flag(request, name) for name in ("active", "silenced", "inhibited")}
        receiver = request.query_params.get("receiver", "")
        try:
            receiver_re = re.compile(f"^(?:{receiver})$") if receiver else None
        except re.error as error:
            raise _RefusedError(400, f"receiver: invalid regular expression: {error}") from None
        now = notifications.now()
        found = []
        for alert in notifications.dispatcher.alerts():
            if alert.resolved_at(now) or not matches_all(matchers, alert.labels):
                continue
            receivers = _receivers(notifications, alert.labels)
            if receiver_re is not None and not any(receiver_re.match(r) for r in receivers):
                continue
            silenced_by, inhibited_by = notifications.dispatcher.suppression(alert, now)
            inhibited = bool(inhibited_by)
            if (
                (silenced_by and not show["silenced"])
                or (inhibited and not show["inhibited"])
                or (not silenced_by and not inhibited and not show["active"])
            ):
                continue
            found.append(
                gettable_alert(
                    alert,
                    now=now,
                    receivers=receivers,
                    silenced_by=silenced_by,
                    inhibited=inhibited,
                    inhibited_by=inhibited_by,
                )
            )
        return sorted(found, key=lambda item: str(item["fingerprint"]))

    async def get_silences(request: Request) -> list[dict[str, Any]]:
        notifications = service()
        matchers = _filters(request)
        now = notifications.now()
        chosen = [
            silence
            for silence in notifications.silences.all()
            if matches_all(matchers, _equal_labels(silence))
        ]
        return [silence.to_api(now) for silence in _sorted_silences(chosen, now)]

    async def post_silence(request: Request) -> dict[str, str]:
        notifications = service()
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _RefusedError(400, "expected a JSON object (PostableSilence)")
        now = notifications.now()
        try:
            silence = Silence.from_api(body, now)
            stored = await asyncio.to_thread(notifications.silences.add, silence, now)
        except RoutingConfigError as error:
            status = 404 if error.message.endswith("not found") else 400
            raise _RefusedError(status, error.message) from None
        return {"silenceID": stored.id}

    async def get_silence(request: Request) -> dict[str, Any]:
        notifications = service()
        silence = notifications.silences.get(request.path_params["silence_id"])
        if silence is None:
            raise _RefusedError(404, "silence not found")
        return silence.to_api(notifications.now())

    async def delete_silence(request: Request) -> Response:
        notifications = service()
        silence_id = request.path_params["silence_id"]
        if notifications.silences.get(silence_id) is None:
            raise _RefusedError(404, "silence not found")
        try:
            await asyncio.to_thread(notifications.silences.expire, silence_id, notifications.now())
        except RoutingConfigError as error:  # already expired: Alertmanager answers 500 too
            raise _RefusedError(500, error.message) from None
        return Response(status_code=200)

    async def get_receivers(request: Request) -> list[dict[str, str]]:
        return [{"name": name} for name in sorted(service().config.receivers)]

    async def get_status(request: Request) -> dict[str, Any]:
        notifications = service()
        original = ""
        source = notifications.config.source
        if source and not source.startswith("<"):
            try:
                original = await asyncio.to_thread(_read_text, source)
            except OSError:
                original = ""
        return {
            "cluster": {"name": "", "status": "disabled", "peers": []},
            "versionInfo": {
                # The Alertmanager API level served: amtool warns on any other version.
                "version": AM_API_VERSION,
                "revision": f"vigie-{__version__}",
                "branch": "vigie",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            },
            "config": {"original": original},
            "uptime": format_time(datetime.fromtimestamp(server.started_at, UTC)),
        }

    async def get_notifications(request: Request) -> dict[str, Any]:
        notifications = service()
        text = request.query_params.get("limit", "100")
        if not text.isdigit() or not 0 < int(text) <= 10_000:
            raise _RefusedError(400, f"limit: expected an integer in 1..10000, got {text!r}")
        history = await asyncio.to_thread(notifications.history, int(text))
        return {"status": "success", "data": [record.to_api() for record in history]}

    async def get_runbook(request: Request) -> Response:
        name = request.path_params["alertname"]
        text = runbook(name) if _ALERTNAME.match(name) else None
        if text is None:
            return PlainTextResponse(f"no runbook for alert {name!r}\n", status_code=404)
        if request.query_params.get("format") == "md":
            return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
        return HTMLResponse(render_markdown(text, title=f"Runbook: {name}"))

    return [
        ("/api/v2/alerts", answered(get_alerts), ["GET"]),
        ("/api/v2/alerts", answered(post_alerts), ["POST"]),
        ("/api/v2/silences", answered(get_silences), ["GET"]),
        ("/api/v2/silences", answered(post_silence), ["POST"]),
        ("/api/v2/silence/{silence_id}", answered(get_silence), ["GET"]),
        ("/api/v2/silence/{silence_id}", answered(delete_silence), ["DELETE"]),
        ("/api/v2/receivers", answered(get_receivers), ["GET"]),
        ("/api/v2/status", answered(get_status), ["GET"]),
        ("/api/v1/notifications", answered(get_notifications), ["GET"]),
        ("/runbooks/{alertname}", get_runbook, ["GET"]),
    ]


def _without_zero_times(body: Any) -> Any:
    """Go clients (amtool) send the zero time for "not set"; Alertmanager reads it so too."""
    if not isinstance(body, list):
        return body
    cleaned = []
    for raw in body:
        if isinstance(raw, dict):
            raw = {
                key: value
                for key, value in raw.items()
                if not (
                    key in ("startsAt", "endsAt")
                    and isinstance(value, str)
                    and value.startswith("0001-01-01T00:00:00")
                )
            }
        cleaned.append(raw)
    return cleaned


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _receivers(service: NotificationService, labels: dict[str, str]) -> list[str]:
    names: list[str] = []
    for route in service.config.route.match(labels):
        if route.receiver not in names:
            names.append(route.receiver)
    return names


def _equal_labels(silence: Silence) -> dict[str, str]:
    """Alertmanager filters silences by the label set of their equality matchers."""
    return {matcher.name: matcher.value for matcher in silence.matchers if matcher.op == "="}


def _sorted_silences(silences: list[Silence], now: datetime) -> list[Silence]:
    """Alertmanager's order: active (ending first), pending (starting first), expired (newest)."""
    by_state: dict[str, list[Silence]] = {"active": [], "pending": [], "expired": []}
    for silence in silences:
        by_state[silence.state(now)].append(silence)
    return (
        sorted(by_state["active"], key=lambda s: s.ends_at)
        + sorted(by_state["pending"], key=lambda s: s.starts_at)
        + sorted(by_state["expired"], key=lambda s: s.ends_at, reverse=True)
    )


def render_markdown(text: str, *, title: str) -> str:
    """A runbook as a standalone HTML page (markdown-it when installed, else preformatted)."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # optional: the markdown still reads fine as preformatted text
        body = f"<pre>{html.escape(text)}</pre>"
    else:
        body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;padding:0 1em}"
        "pre{background:#f4f4f4;padding:.5em;overflow:auto}</style></head>\n"
        f"<body>\n{body}</body></html>\n"
    )
