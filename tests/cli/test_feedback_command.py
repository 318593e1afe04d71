"""`vigie feedback delete` against a real server with auth on."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from support.vigie_server import serving_vigie
from vigie.cli.main import main
from vigie.server.secrets_store import TokenStore
from vigie.store.memory import MemoryStorage

CONFIG = "vigie:\n  self_monitoring: {enabled: false}\n  security: {auth: on}\n"


def _span(number: int, user: str) -> dict[str, object]:
    start = time.time_ns() - 10**9
    return {
        "traceId": f"{number:032x}", "spanId": f"{number:016x}", "name": "POST /feedback",
        "kind": 2, "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1000),
        "attributes": [{"key": "user.id", "value": {"stringValue": user}}],
    }  # fmt: skip


def test_feedback_delete_needs_the_admin_token_and_prints_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a token: 401 naming --token-file; viewer: 403; admin: counts and the hash only."""
    monkeypatch.delenv("VIGIE_TOKEN", raising=False)
    with serving_vigie(CONFIG, tmp_path, MemoryStorage()) as (url, _port, server):
        tokens = TokenStore(tmp_path / "data").current()
        spans = [_span(1, "u-42"), _span(2, "u-42"), _span(3, "u-7")]
        body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
        headers = {"Authorization": f"Bearer {tokens.admin}"}
        assert httpx.post(url + "/v1/traces", json=body, headers=headers).status_code == 200
        command = ["feedback", "delete", "--user", "u-42", "--server", url]

        assert main(command) == 1
        err = capsys.readouterr().err
        assert "the server requires a token (HTTP 401): pass the token with --token-file" in err

        monkeypatch.setenv("VIGIE_TOKEN", tokens.viewer)
        assert main(command) == 1
        assert "(HTTP 403): this needs the admin token" in capsys.readouterr().err

        admin_file = tmp_path / "admin-token"
        admin_file.write_text(tokens.admin)
        assert main([*command, "--token-file", str(admin_file)]) == 0
        out = capsys.readouterr().out
        assert out == (
            "deleted 2 spans and 0 log records of user sha256:16ec525b74b75626 "
            "(attributes enduser.id, enduser.pseudo.id, user.id, user_id)\n"
        )
        assert server.telemetry is not None
        assert server.telemetry.spans.count() == 1
