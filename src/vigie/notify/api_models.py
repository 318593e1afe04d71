"""The Alertmanager API v2 shapes vigie accepts and returns for alerts.

``POST /api/v2/alerts`` takes a list of *postable alerts* (``labels``, ``annotations``,
``startsAt``, ``endsAt``, ``generatorURL``) — what Prometheus sends to Alertmanager — so an
external Prometheus can send its alerts to vigie. Invalid entries are rejected with the index and
field named, and nothing of the batch is taken (as Alertmanager answers 400 for the batch).

Example::

    >>> from datetime import datetime, timedelta, timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> [a.labels for a in parse_postable_alerts([{"labels": {"alertname": "Down"}}], now=now,
    ...                                            resolve_timeout=timedelta(minutes=5))]
    [{'alertname': 'Down'}]
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from vigie.exceptions import PayloadError
from vigie.notify.alert import Alert, format_time, parse_time

__all__ = ["gettable_alert", "parse_postable_alerts"]

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def parse_postable_alerts(body: Any, *, now: datetime, resolve_timeout: timedelta) -> list[Alert]:
    """Validate a decoded JSON body and build the alerts, with Alertmanager's time defaults."""
    if not isinstance(body, list):
        raise PayloadError("expected a JSON array of alerts")
    alerts = []
    for index, raw in enumerate(body):
        where = f"alert {index}"
        if not isinstance(raw, dict):
            raise PayloadError(f"{where}: expected an object")
        labels = raw.get("labels")
        if not isinstance(labels, dict) or not labels:
            raise PayloadError(f"{where}: labels: at least one label pair required")
        for name, value in labels.items():
            if not isinstance(name, str) or not _LABEL_NAME.match(name):
                raise PayloadError(f"{where}: labels: invalid label name {name!r}")
            if not isinstance(value, str) or value == "":
                raise PayloadError(f"{where}: labels: invalid value for label {name!r}")
        annotations = raw.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(v, str) for v in annotations.values()
        ):
            raise PayloadError(f"{where}: annotations: expected string values")
        times: dict[str, datetime | None] = {}
        for field in ("startsAt", "endsAt"):
            text = raw.get(field)
            try:
                times[field] = parse_time(text) if text else None
            except (TypeError, ValueError):
                raise PayloadError(f"{where}: {field}: invalid timestamp {text!r}") from None
        starts, ends = times["startsAt"], times["endsAt"]
        if starts is not None and ends is not None and ends < starts:
            raise PayloadError(f"{where}: endsAt is before startsAt")
        alerts.append(
            Alert.received(
                {str(k): str(v) for k, v in labels.items()},
                now=now,
                resolve_timeout=resolve_timeout,
                annotations={str(k): str(v) for k, v in annotations.items()},
                starts_at=starts,
                ends_at=ends,
                generator_url=str(raw.get("generatorURL") or ""),
            )
        )
    return alerts


def gettable_alert(
    alert: Alert,
    *,
    now: datetime,
    receivers: list[str],
    silenced_by: list[str],
    inhibited: bool,
    inhibited_by: list[str] | None = None,
) -> dict[str, Any]:
    """Alertmanager's ``GettableAlert``: the alert, its receivers and why it is suppressed."""
    suppressed = bool(silenced_by) or inhibited or bool(inhibited_by)
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": format_time(alert.starts_at),
        "endsAt": format_time(alert.ends_at),
        "updatedAt": format_time(alert.updated_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": name} for name in receivers],
        "status": {
            "state": "suppressed" if suppressed else "active",
            "silencedBy": silenced_by,
            "inhibitedBy": list(inhibited_by or []),
        },
    }
