"""vigie routes, groups, inhibits, silences and times notifications exactly as Alertmanager.

Each scenario file in ``scenarios/`` is played at the same moments to a real Alertmanager (Debian
``prometheus-alertmanager``) and to vigie's notification service; both post to one local webhook
sink. Per receiver and group, the notifications must match: same count, same payload (grouping,
alerts, their order and statuses, fingerprints), and arrival times within a tolerance.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from support.alertmanager import running_alertmanager
from support.webhook_sink import Received, WebhookSink
from vigie.notify.api_models import parse_postable_alerts
from vigie.notify.config import parse_routing_config
from vigie.notify.service import NotificationService

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yml"))
# Generous for a loaded 2-core machine; a wrong tick would be off by a second or more.
TIME_TOLERANCE_S = 0.8

pytestmark = pytest.mark.slow


def _postable(step: dict[str, Any], started: dict[str, datetime], now: datetime) -> list[Any]:
    alerts = []
    for kind in ("fire", "resolve"):
        for labels in step.get(kind, []):
            key = repr(sorted(labels.items()))
            starts = started.setdefault(key, now)
            alert = {
                "labels": labels,
                "annotations": {"summary": f"{labels['alertname']} on {labels.get('job', '-')}"},
                "startsAt": starts.isoformat().replace("+00:00", "Z"),
                "generatorURL": "http://vigie.test/graph",
            }
            if kind == "resolve":
                alert["endsAt"] = now.isoformat().replace("+00:00", "Z")
            alerts.append(alert)
    return alerts


def _play(scenario: dict[str, Any], alertmanager: str, service: NotificationService) -> float:
    client = httpx.Client(timeout=5)
    started: dict[str, datetime] = {}
    origin = time.monotonic()
    for step in sorted(scenario["steps"], key=lambda s: s["at"]):
        time.sleep(max(0.0, origin + step["at"] - time.monotonic()))
        now = datetime.now(UTC)
        if "silence" in step:
            silence = step["silence"]
            ends = now + timedelta(seconds=silence["duration"])
            service.silences.create(
                silence["matchers"],
                starts_at=now,
                ends_at=ends,
                created_by="test",
                comment="drill",
                now=now,
            )
            name, value = silence["matchers"].split("=", 1)
            body = {
                "matchers": [{"name": name, "value": value.strip('"'), "isRegex": False}],
                "startsAt": now.isoformat(),
                "endsAt": ends.isoformat(),
                "createdBy": "test",
                "comment": "drill",
            }
            client.post(f"{alertmanager}/api/v2/silences", json=body).raise_for_status()
            continue
        alerts = _postable(step, started, now)
        # Both systems get the batch at the same moment: vigie in a thread, Alertmanager here.
        parsed = parse_postable_alerts(alerts, now=now, resolve_timeout=timedelta(minutes=5))
        feeder = threading.Thread(target=service.receive, args=(parsed,))
        feeder.start()
        client.post(f"{alertmanager}/api/v2/alerts", json=alerts).raise_for_status()
        feeder.join()
    time.sleep(max(0.0, origin + scenario["duration"] - time.monotonic()))
    client.close()
    return origin


def _by_group(received: list[Received], system: str, origin: float) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = {}
    for item in received:
        if not item.path.startswith(f"/{system}/"):
            continue
        body = dict(item.body)
        body.pop("externalURL")
        receiver_path = item.path.removeprefix(f"/{system}")
        groups.setdefault((receiver_path, body["groupKey"]), []).append(
            (round(item.at - origin, 3), body)
        )
    return groups


@pytest.mark.parametrize("scenario_path", SCENARIOS, ids=lambda p: p.stem)
def test_same_notifications_as_alertmanager(scenario_path: Path, tmp_path: Path) -> None:
    """The scenario yields the same notifications, per group, at the same times."""
    scenario = yaml.safe_load(scenario_path.read_text(encoding="utf-8"))
    with WebhookSink() as sink:
        am_config = scenario["config"].replace("WEBHOOK_URL", f"{sink.url}/am")
        vigie_config = parse_routing_config(
            scenario["config"].replace("WEBHOOK_URL", f"{sink.url}/vigie"),
            source=scenario_path.name,
        )
        with running_alertmanager(am_config, tmp_path / "am") as alertmanager:
            service = NotificationService(vigie_config, data_dir=tmp_path / "vigie")
            service.start()
            try:
                origin = _play(scenario, alertmanager, service)
            finally:
                service.stop()
        expected = _by_group(sink.received, "am", origin)
        got = _by_group(sink.received, "vigie", origin)

    assert expected, "Alertmanager sent nothing: the scenario tests nothing"
    assert sorted(got) == sorted(expected), "different receivers or groups were notified"
    for key, reference in expected.items():
        ours = got[key]
        assert [body for _, body in ours] == [body for _, body in reference], key
        for (our_time, _), (their_time, _) in zip(ours, reference, strict=True):
            assert abs(our_time - their_time) <= TIME_TOLERANCE_S, (key, our_time, their_time)
