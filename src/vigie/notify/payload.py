"""What a notification says: Alertmanager's webhook payload (version 4) and default texts.

:func:`webhook_payload` builds the exact JSON Alertmanager posts to a webhook receiver, so any tool
that reads Alertmanager webhooks reads vigie's. :func:`default_title` and :func:`default_body`
render the human text sent to chat and e-mail channels: Alertmanager's default subject line, then
per alert its summary, severity, current value, start time, runbook link and a link to vigie's UI.

Example::

    >>> from datetime import datetime, timezone
    >>> from vigie.notify.alert import Alert
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> alert = Alert({"alertname": "Down", "job": "app"}, starts_at=t0)
    >>> default_title("firing", [alert], {"alertname": "Down"}, {"alertname": "Down", "job": "app"})
    '[FIRING:1] Down (app)'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from vigie.notify.alert import ZERO_TIME, Alert, format_time

__all__ = [
    "common_labels",
    "default_body",
    "default_title",
    "group_key",
    "label_set_string",
    "webhook_payload",
]


def label_set_string(labels: Mapping[str, str]) -> str:
    """Prometheus's ``LabelSet.String()``: ``{a="1", b="2"}``, sorted, Go-quoted values."""
    pairs = sorted(
        f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in labels.items()
    )
    return "{" + ", ".join(pairs) + "}"


def group_key(route_key: str, group_labels: Mapping[str, str]) -> str:
    """Alertmanager's group key: the route key and the group labels."""
    return f"{route_key}:{label_set_string(group_labels)}"


def common_labels(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The name/value pairs every mapping shares."""
    if not mappings:
        return {}
    shared = dict(mappings[0])
    for mapping in mappings[1:]:
        shared = {name: value for name, value in shared.items() if mapping.get(name) == value}
    return shared


def _status(alert: Alert, now: datetime) -> str:
    return "resolved" if alert.resolved_at(now) else "firing"


def webhook_payload(
    *,
    receiver: str,
    group_key_text: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[Alert],
    now: datetime,
    external_url: str,
    truncated: int = 0,
) -> dict[str, Any]:
    """Alertmanager's version-4 webhook message for ``alerts`` (already ordered and filtered)."""
    firing = any(not alert.resolved_at(now) for alert in alerts)
    return {
        "receiver": receiver,
        "status": "firing" if firing else "resolved",
        "alerts": [
            {
                "status": _status(alert, now),
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "startsAt": format_time(alert.starts_at),
                "endsAt": format_time(alert.ends_at if alert.resolved_at(now) else ZERO_TIME),
                "generatorURL": alert.generator_url,
                "fingerprint": alert.fingerprint,
            }
            for alert in alerts
        ],
        "groupLabels": dict(group_labels),
        "commonLabels": common_labels([alert.labels for alert in alerts]),
        "commonAnnotations": common_labels([alert.annotations for alert in alerts]),
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key_text,
        "truncatedAlerts": truncated,
    }


def default_title(
    status: str,
    alerts: Sequence[Alert],
    group_labels: Mapping[str, str],
    shared_labels: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> str:
    """Alertmanager's default subject: ``[FIRING:2] HighLatency api (critical)``."""
    title = f"[{status.upper()}"
    if status == "firing":
        firing = [a for a in alerts if now is None or not a.resolved_at(now)]
        title += f":{len(firing)}"
    title += "] " + " ".join(group_labels[name] for name in sorted(group_labels))
    rest = {name: value for name, value in shared_labels.items() if name not in group_labels}
    if rest:
        title += " (" + " ".join(rest[name] for name in sorted(rest)) + ")"
    return title


def default_body(
    alerts: Sequence[Alert], *, now: datetime, ui_url: str = "", runbook_base: str = ""
) -> str:
    """Plain text for chat and e-mail: what fired, how bad, since when, and what to do."""
    lines: list[str] = []
    for alert in alerts:
        status = _status(alert, now).upper()
        summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
        lines.append(f"{status}: {alert.name} {summary}".rstrip())
        severity = alert.labels.get("severity")
        if severity:
            lines.append(f"  severity: {severity}")
        value = alert.annotations.get("value")
        if not value and alert.value is not None:
            value = f"{alert.value:.4g}"
        if value:
            lines.append(f"  value: {value}")
        lines.append(f"  since: {format_time(alert.starts_at)}")
        if alert.resolved_at(now):
            lines.append(f"  resolved: {format_time(alert.ends_at)}")
        runbook = alert.annotations.get("runbook_url") or (
            f"{runbook_base.rstrip('/')}/{alert.name}" if runbook_base and alert.name else ""
        )
        if runbook:
            lines.append(f"  runbook: {runbook}")
        if ui_url:
            lines.append(f"  view: {ui_url.rstrip('/')}/alerts?alert={alert.fingerprint}")
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
        if labels:
            lines.append(f"  labels: {labels}")
    return "\n".join(lines)
