"""`vigie drift`: report from a data dir or a server, set and reset reference windows."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support import free_port
from vigie.cli.main import main
from vigie.quality.service import QualityService
from vigie.store.memory import MemoryStorage

HOUR = 3600.0


def _fill(data_dir: Path) -> QualityService:
    """A data dir whose model 'intent' has a normal day, then a shifted last hour."""
    now = time.time()
    rng = np.random.default_rng(0)
    service = QualityService(data_dir, MemoryStorage().appender)
    for start, mean in ((now - 5 * HOUR, 50.0), (now - 0.5 * HOUR, 80.0)):
        service.ingest(
            {
                "samples": [
                    {"model": "intent", "time": start + i, "numeric": {"amount": float(v)}}
                    for i, v in enumerate(rng.normal(mean, 10, 300))
                ]
            }
        )
    service.save()
    return service


def test_report_from_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table names the model's verdict and each feature's method, score and threshold."""
    _fill(tmp_path)
    assert main(["drift", "report", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "model intent: DRIFTING, 100% of features drifted (threshold 50%)" in out
    assert "reference trailing, 300 samples; current 300 samples" in out
    (line,) = [row for row in out.splitlines() if row.strip().startswith("amount")]
    name, method, score, threshold, evidently, effect, adjusted, drifted = line.split()
    assert (name, method, threshold, evidently, drifted) == ("amount", "ks", "0.05", "yes", "yes")
    assert float(score) < 1e-6
    assert float(adjusted) == pytest.approx(float(score), rel=0.03)  # one feature: no adjustment
    effect_method, effect_value = effect.split("=")
    assert effect_method == "wasserstein"
    assert 2.0 < float(effect_value) < 4.0  # the mean moved 30 / 10 = 3 standard deviations
    assert main(["drift", "report", "--data-dir", str(tmp_path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["models"][0]["features"][0]["method"] == "ks"


def test_reference_set_and_reset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """set marks a fixed window in the data dir (kept across loads); reset goes back to trailing."""
    _fill(tmp_path)
    code = main(["drift", "reference", "set", "--model", "intent", "--from=-6h", "--to=-4h",
                 "--data-dir", str(tmp_path)])  # fmt: skip
    assert code == 0
    assert "300 samples so far" in capsys.readouterr().out
    reloaded = QualityService(tmp_path, MemoryStorage().appender)
    assert reloaded.models["intent"].reference.kind == "fixed"
    assert (
        main(["drift", "reference", "reset", "--model", "intent", "--data-dir", str(tmp_path)]) == 0
    )
    assert (
        QualityService(tmp_path, MemoryStorage().appender).models["intent"].reference.kind
        == "trailing"
    )


def test_reference_set_refuses_an_empty_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--to before --from is an error naming the option."""
    code = main(["drift", "reference", "set", "--model", "m", "--from=-1h", "--to=-2h",
                 "--data-dir", str(tmp_path)])  # fmt: skip
    assert code == 1
    assert "to: the reference window must end after it starts" in capsys.readouterr().err


@pytest.fixture
def report_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server answering the quality report endpoint in the /api/v1 envelope."""
    service = _fill(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/api/v1/quality/report"
            body: dict[str, Any] = {"status": "success", "data": service.evaluate()}
            payload = json.dumps(body if found else {"status": "error"}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_report_from_server_in_a_real_process(report_server: str) -> None:
    """`vigie drift report --server URL` prints the server's report."""
    result = subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "drift", "report", "--server", report_server],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "model intent: DRIFTING" in result.stdout


def test_unreachable_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A server that does not answer gives exit code 1 and names --server."""
    assert (
        main(["drift", "report", "--server", f"http://127.0.0.1:{free_port()}", "--timeout", "2"])
        == 1
    )
    assert "--server: cannot read http://127.0.0.1:" in capsys.readouterr().err
