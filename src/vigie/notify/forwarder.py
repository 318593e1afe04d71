"""Send alerts to an external Alertmanager instead of routing them in vigie.

Teams that already run Alertmanager keep their routing there: vigie then posts its alerts to each
configured Alertmanager's ``/api/v2/alerts`` as Prometheus does (the same JSON, every alert with
``startsAt``, ``endsAt`` and ``generatorURL``), and re-sends them on each evaluation so they do not
time out. A failing Alertmanager is reported and does not stop the others.

Example::

    forwarder = AlertmanagerForwarder(["http://127.0.0.1:9093"])
    failures = forwarder.send(alerts)    # {url: error} for the ones that failed
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from vigie.notify.alert import ZERO_TIME, Alert, format_time

__all__ = ["AlertmanagerForwarder", "postable_alerts"]

logger = logging.getLogger("vigie.notify")


def postable_alerts(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """Alertmanager's ``PostableAlerts`` JSON for ``alerts``."""
    body = []
    for alert in alerts:
        item: dict[str, Any] = {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": format_time(alert.starts_at),
            "generatorURL": alert.generator_url,
        }
        if alert.ends_at != ZERO_TIME:
            item["endsAt"] = format_time(alert.ends_at)
        body.append(item)
    return body


class AlertmanagerForwarder:
    """Posts alerts to one or more Alertmanagers (API v2)."""

    def __init__(
        self, urls: Sequence[str], *, timeout: float = 10.0, path_prefix: str = ""
    ) -> None:
        import httpx

        self.urls = [url.rstrip("/") + path_prefix.rstrip("/") for url in urls]
        self._client = httpx.Client(timeout=timeout, headers={"User-Agent": "vigie"})

    def send(self, alerts: Sequence[Alert]) -> dict[str, str]:
        """Post ``alerts`` to every Alertmanager; returns the errors by URL (empty: none failed)."""
        import httpx

        if not alerts:
            return {}
        body = postable_alerts(alerts)
        failures: dict[str, str] = {}
        for url in self.urls:
            try:
                response = self._client.post(f"{url}/api/v2/alerts", json=body)
                if response.status_code // 100 != 2:
                    failures[url] = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as error:
                failures[url] = str(error) or type(error).__name__
        for url, reason in failures.items():
            logger.warning(
                "sending %d alerts to Alertmanager %s failed: %s", len(alerts), url, reason
            )
        return failures

    def close(self) -> None:
        """Close connections."""
        self._client.close()
