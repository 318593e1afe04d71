"""A tiny real HTTP target (an exporter) whose response a test changes between scrapes."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class Exporter:
    """A real HTTP target on a free port: ``body``, ``status``, ``content_type`` and ``delay`` are
    read at every request; ``requests`` keeps the headers of each; ``close()`` stops it.
    """

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.content_type = "text/plain; version=0.0.4"
        self.requests: list[dict[str, str]] = []
        self.delay = 0.0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.requests.append(dict(self.headers))
                time.sleep(exporter.delay)
                try:
                    self.send_response(exporter.status)
                    self.send_header("Content-Type", exporter.content_type)
                    self.send_header("Content-Length", str(len(exporter.body)))
                    self.end_headers()
                    self.wfile.write(exporter.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the scraper gave up (timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
