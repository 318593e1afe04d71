"""Rule alerts as the notifier receives them, converted as Prometheus's ``SendAlerts`` does.

The rule evaluator hands over its due alerts (firing, or resolved within the last 15 minutes)
with the expression of their rule. Each becomes a :class:`~vigie.notify.alert.Alert` with
Prometheus's times: ``startsAt`` is when the alert started firing, ``endsAt`` is when it
resolved or, while it fires, ``valid_until`` (after which Alertmanager resolves it by itself if
the evaluator stops reporting it). ``generatorURL`` links to the expression's table view, and the
external labels are added where the alert does not set them, as Prometheus's notifier does. The
result is the alert Alertmanager would build from the same ``POST /api/v2/alerts`` body, so the
local routing and an external Alertmanager see the same thing.

Example::

    >>> from vigie.rules.alerting import Alert as RuleAlert, AlertState
    >>> rule_alert = RuleAlert({"alertname": "Down"}, {}, AlertState.FIRING, 1.0, active_at=0,
    ...                        fired_at=60_000, valid_until=300_000)
    >>> [alert] = notifier_alerts("up == 0", [rule_alert], "http://127.0.0.1:9800")
    >>> alert.generator_url
    'http://127.0.0.1:9800/graph?g0.expr=up%20%3D%3D%200&g0.tab=1'
    >>> alert.starts_at.isoformat(), alert.ends_at.isoformat()
    ('1970-01-01T00:01:00+00:00', '1970-01-01T00:05:00+00:00')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from vigie.notify.alert import ZERO_TIME, Alert
from vigie.rules.alerting import Alert as RuleAlert

__all__ = ["generator_url", "notifier_alert", "notifier_alerts"]


def generator_url(external_url: str, expr: str) -> str:
    """Prometheus's ``TableLinkForExpression`` under ``external_url``."""
    return f"{external_url.rstrip('/')}/graph?g0.expr={quote(expr, safe='')}&g0.tab=1"


def notifier_alert(
    alert: RuleAlert,
    generator: str,
    *,
    external_labels: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Alert:
    """One rule alert as Alertmanager receives it (``now`` becomes its ``updatedAt``)."""
    labels = dict(alert.labels)
    for name, value in (external_labels or {}).items():
        labels.setdefault(name, value)
    ends = alert.resolved_at if alert.resolved_at is not None else alert.valid_until
    # Prometheus sends FiredAt; a due alert has always fired, active_at is a safe fallback.
    starts = alert.fired_at if alert.fired_at is not None else alert.active_at
    return Alert(
        labels=labels,
        annotations=dict(alert.annotations),
        starts_at=_time(starts),
        ends_at=_time(ends) if ends is not None else ZERO_TIME,
        generator_url=generator,
        updated_at=now or datetime.now(UTC),
        value=alert.value,
    )


def notifier_alerts(
    expr: str,
    alerts: Iterable[RuleAlert],
    external_url: str,
    *,
    external_labels: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """Every due alert of the rule with expression ``expr``."""
    generator = generator_url(external_url, expr)
    moment = now or datetime.now(UTC)
    return [
        notifier_alert(alert, generator, external_labels=external_labels, now=moment)
        for alert in alerts
    ]


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
