"""A real HTTP server that records the webhook notifications posted to it."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST: its path, when it arrived (time.monotonic) and its decoded JSON body."""

    path: str
    at: float
    body: Any


class WebhookSink:
    """Listens on 127.0.0.1; ``received`` lists every POST. Set ``failing`` to answer 503."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failing = False
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if sink.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                with sink._lock:
                    sink.received.append(Received(self.path, time.monotonic(), json.loads(raw)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self, prefix: str = "") -> list[Any]:
        """Bodies received on paths starting with ``prefix``."""
        with self._lock:
            return [item.body for item in self.received if item.path.startswith(prefix)]

    def wait_for(self, count: int, timeout: float = 10.0, prefix: str = "") -> list[Any]:
        """Wait until ``count`` bodies arrived under ``prefix``; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.bodies(prefix)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.bodies(prefix)
