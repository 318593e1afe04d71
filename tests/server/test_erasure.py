"""Right to erasure: one user's spans and log records deleted on a real server, audited by hash."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.vigie_server import serving_vigie
from vigie.server.erasure import PATH, user_hash
from vigie.server.runtime import Server
from vigie.server.secrets_store import TokenStore
from vigie.store.memory import MemoryStorage
from vigie.telemetry.log_search import LogQuery

NOW_NS = time.time_ns() - 60 * 10**9
CONFIG = "vigie:\n  self_monitoring: {enabled: false}\n  security: {auth: on}\n"


def _value(value: object) -> dict[str, Any]:
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": str(value)}


def _attrs(values: dict[str, object]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in values.items()]


def _span(number: int, attributes: dict[str, object]) -> dict[str, Any]:
    return {
        "traceId": f"{number:032x}", "spanId": f"{number:016x}", "name": "POST /ask", "kind": 2,
        "startTimeUnixNano": str(NOW_NS + number), "endTimeUnixNano": str(NOW_NS + number + 10),
        "attributes": _attrs(attributes),
    }  # fmt: skip


def _log(number: int, body: str, attributes: dict[str, object]) -> dict[str, Any]:
    return {
        "timeUnixNano": str(NOW_NS + number), "severityNumber": 9, "severityText": "INFO",
        "body": {"stringValue": body}, "attributes": _attrs(attributes),
    }  # fmt: skip


def _feed(url: str, admin: dict[str, str]) -> None:
    spans = [
        _span(1, {"user.id": "u-42", "http.route": "/ask"}),
        _span(2, {"enduser.id": "u-42"}),
        _span(3, {"user.id": "u-7"}),
        _span(4, {"user.id": 42}),
    ]
    logs = [
        _log(1, "feedback from u-42: great answer", {"user_id": "u-42"}),
        _log(2, "feedback from u-7", {"user_id": "u-7"}),
        _log(3, "no user here", {}),
    ]
    resource = {"attributes": _attrs({"service.name": "faq-bot"})}
    traces = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    records = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": logs}]}]}
    for path, body in (("/v1/traces", traces), ("/v1/logs", records)):
        response = httpx.post(url + path, json=body, headers=admin, timeout=10)
        assert response.status_code == 200, response.text


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[tuple[str, Server, dict[str, str], dict[str, str]]]:
    """A server with auth on holding spans and logs of users u-42 and u-7."""
    with serving_vigie(CONFIG, tmp_path, MemoryStorage()) as (url, _port, server):
        tokens = TokenStore(tmp_path / "data").current()
        admin = {"Authorization": f"Bearer {tokens.admin}"}
        viewer = {"Authorization": f"Bearer {tokens.viewer}"}
        _feed(url, admin)
        yield url, server, admin, viewer


def test_deletes_one_users_spans_and_logs_and_audits_a_hash(
    fed: tuple[str, Server, dict[str, str], dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every span/log carrying u-42 goes, from the disk too; others stay; the audit has a hash."""
    url, server, admin, _viewer = fed
    caplog.set_level(logging.INFO, logger="vigie.audit")
    telemetry = server.telemetry
    assert telemetry is not None
    assert telemetry.flush(10)
    assert any(b"u-42" in path.read_bytes() for path in telemetry.data_dir.glob("*.db*"))
    response = httpx.post(url + PATH, json={"user_id": "u-42"}, headers=admin, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "user": "sha256:16ec525b74b75626",
        "deleted": {"spans": 2, "logs": 1},
        "attributes": ["enduser.id", "enduser.pseudo.id", "user.id", "user_id"],
    }
    assert telemetry.spans.count() == 2  # u-7's and the numeric 42's
    assert [line.record.body for line in telemetry.search_logs(LogQuery())] == [
        "no user here",
        "feedback from u-7",
    ]
    assert telemetry.search_logs(LogQuery(text="great")) == []  # not left in the text index
    assert all(b"u-42" not in path.read_bytes() for path in telemetry.data_dir.glob("*.db*"))
    (record,) = [r for r in caplog.records if r.name == "vigie.audit"]
    assert "u-42" not in record.getMessage()
    assert record.getMessage().startswith(
        "erasure of user sha256:16ec525b74b75626: deleted 2 spans and 1 log records"
    )
    again = httpx.post(url + PATH, data={"user_id": "42"}, headers=admin, timeout=30)
    assert again.json()["data"]["deleted"] == {"spans": 1, "logs": 0}  # a number matches its text


def test_only_admin_and_only_in_the_body(
    fed: tuple[str, Server, dict[str, str], dict[str, str]],
) -> None:
    """No token: 401; viewer: 403; id in the URL or empty: 400 — and nothing deleted."""
    url, server, admin, viewer = fed
    assert httpx.post(url + PATH, data={"user_id": "u-7"}).status_code == 401
    assert httpx.post(url + PATH, data={"user_id": "u-7"}, headers=viewer).status_code == 403
    in_url = httpx.post(url + PATH + "?user_id=u-7", headers=admin)
    assert in_url.status_code == 400
    assert "not in the URL" in in_url.json()["error"]
    for body in ({"user_id": ""}, {"user_id": "u-7", "attributes": []}, ["u-7"]):
        refused = httpx.post(url + PATH, json=body, headers=admin)
        assert refused.status_code == 400, body
        assert refused.json()["errorType"] == "bad_data"
    assert server.telemetry is not None
    assert server.telemetry.spans.count() == 4


def test_attribute_names_can_be_chosen(
    fed: tuple[str, Server, dict[str, str], dict[str, str]],
) -> None:
    """attributes limits the match to the names given."""
    url, _server, admin, _viewer = fed
    body = {"user_id": "u-42", "attributes": ["enduser.id"]}
    response = httpx.post(url + PATH, json=body, headers=admin)
    assert response.json()["data"]["deleted"] == {"spans": 1, "logs": 0}


def test_user_hash_is_a_short_sha256() -> None:
    """The audit pseudonym is sha256: plus 16 hex digits of the id's SHA-256."""
    assert user_hash("u-42") == "sha256:16ec525b74b75626"
    assert user_hash("u-43") != user_hash("u-42")
