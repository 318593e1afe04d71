"""A real Prometheus (the Debian package's binary) run by a test, stopped whatever happens."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PrometheusProcess:
    """The running Prometheus: its base URL, port, and the file its output goes to."""

    url: str
    port: int
    log: Path

    def log_tail(self, size: int = 3000) -> str:
        """The end of its output, for assertion messages."""
        return self.log.read_text(errors="replace")[-size:]


@contextmanager
def running_prometheus(
    binary: str, config: Path, data: Path, port: int, *flags: str
) -> Iterator[PrometheusProcess]:
    """Start ``binary`` with ``config``, its TSDB in ``data`` and ``flags``, on ``port``.

    Its output goes to ``prometheus.log`` beside ``data``; it is terminated (killed if it does
    not stop in 20 s) when the block ends.
    """
    log = data.parent / "prometheus.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{port}", *flags],
            stdout=sink, stderr=sink,
        )  # fmt: skip
    try:
        yield PrometheusProcess(f"http://127.0.0.1:{port}", port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
