"""The demo's webhook sink: receives Alertmanager webhook payloads, prints them, keeps them.

``vigie demo`` routes every alert of its server to this sink, so that a notification is
something you can see in the terminal (one line per alert of each payload) and something a drill
can wait for (``GET /notifications``). It also carries the demo's control switches, which act on
processes only the demo's supervisor owns (``POST /control/app/stop`` and ``/control/app/start``,
guarded by the drill token).

It is the standard library's threading HTTP server, so it starts in milliseconds and needs no
event loop.

Example::

    sink = WebhookSink(out=sys.stdout, token="secret").start()
    # route alerts to sink.webhook_url (webhook_configs: [{url: ...}])
    sink.notifications()        # every payload received, oldest first
    sink.stop()
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

__all__ = ["WebhookSink"]

#: The most payloads kept (oldest dropped first); a demo day sends far fewer.
MAX_KEPT = 5_000


class WebhookSink:
    """A local webhook receiver on ``host``:``port`` (0: a free port) with control switches.

    ``controls`` maps a name to a callable run by ``POST /control/<name>`` (bearer ``token``);
    it returns a one-line detail. ``quiet`` names alerts not printed (e.g. ``Watchdog``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        out: TextIO | None = None,
        token: str | None = None,
        controls: dict[str, Callable[[], str]] | None = None,
        quiet: frozenset[str] = frozenset({"Watchdog"}),
    ) -> None:
        self.out = out
        self.token = token or secrets.token_urlsafe(18)
        self.controls = dict(controls or {})
        self.quiet = quiet
        self._received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The sink's base URL."""
        host, port = self._server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else host
        return f"http://{shown}:{port}"

    @property
    def webhook_url(self) -> str:
        """Where a ``webhook_configs`` entry should post."""
        return self.url + "/webhook"

    def start(self) -> WebhookSink:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vigie-demo-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def notifications(self, since: int = 0) -> list[dict[str, Any]]:
        """The payloads received, each with ``received_at`` (UNIX seconds) and ``index``."""
        with self._lock:
            return [item for item in self._received if item["index"] >= since]

    def receive(self, payload: dict[str, Any]) -> None:
        """Keep and print one webhook payload."""
        with self._lock:
            index = self._received[-1]["index"] + 1 if self._received else 0
            self._received.append({"index": index, "received_at": time.time(), **payload})
            del self._received[:-MAX_KEPT]
        if self.out is not None:
            for line in describe(payload, quiet=self.quiet):
                print(line, file=self.out, flush=True)


def describe(payload: dict[str, Any], *, quiet: frozenset[str] = frozenset()) -> list[str]:
    """One line per alert of ``payload``: status, name, severity, summary and runbook link."""
    lines = []
    for alert in payload.get("alerts") or []:
        labels = alert.get("labels") or {}
        name = str(labels.get("alertname", "?"))
        if name in quiet:
            continue
        annotations = alert.get("annotations") or {}
        status = str(alert.get("status", payload.get("status", "?")))
        severity = labels.get("severity", "")
        summary = annotations.get("summary", "")
        runbook = annotations.get("runbook_url", "")
        line = f"notification: {status.upper():8} {name} [{severity}] {summary}"
        lines.append(line + (f"  runbook {runbook}" if runbook and status == "firing" else ""))
    return lines


def _handler(sink: WebhookSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "vigie-demo-sink"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the sink prints notifications, not access logs."""

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/notifications":
                since = 0
                for part in query.split("&"):
                    key, _, value = part.partition("=")
                    if key == "since" and value.isdigit():
                        since = int(value)
                self._answer(200, {"notifications": sink.notifications(since)})
            elif path in ("/", "/-/healthy"):
                self._answer(200, {"status": "ok", "received": len(sink.notifications())})
            else:
                self._answer(404, {"error": f"no route {path}"})

        def do_POST(self) -> None:
            path = self.path.partition("?")[0]
            if path == "/webhook":
                try:
                    payload = self._body()
                except ValueError:
                    self._answer(400, {"error": "body is not JSON"})
                    return
                if not isinstance(payload, dict):
                    self._answer(400, {"error": "expected a JSON object"})
                    return
                sink.receive(payload)
                self._answer(200, {"status": "received"})
                return
            if path.startswith("/control/"):
                scheme, _, presented = (self.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "bearer" or not secrets.compare_digest(presented, sink.token):
                    self._answer(401, {"error": "needs 'Authorization: Bearer <drill token>'"})
                    return
                control = sink.controls.get(path.removeprefix("/control/"))
                if control is None:
                    self._answer(404, {"error": f"unknown control; known: {sorted(sink.controls)}"})
                    return
                try:
                    detail = control()
                except Exception as error:  # the control failed: tell the caller why
                    self._answer(500, {"error": f"{type(error).__name__}: {error}"})
                    return
                self._answer(200, {"detail": detail})
                return
            self._answer(404, {"error": f"no route {path}"})

    return Handler
