"""Inhibition: a firing source alert mutes matching target alerts, as Alertmanager's inhibitor.

A target alert is muted when some *firing* alert matches the rule's source matchers, has the same
values for every ``equal`` label (absent counts as empty, as in Alertmanager), and is not the target
itself when the alert matches both sides.

Example::

    >>> from datetime import datetime, timedelta, timezone
    >>> from vigie.notify.alert import Alert
    >>> from vigie.notify.config import InhibitRule
    >>> from vigie.notify.matchers import parse_matchers
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> rule = InhibitRule(parse_matchers('severity="critical"'),
    ...                    parse_matchers('severity="warning"'), ("alertname",))
    >>> critical = Alert({"alertname": "Slow", "severity": "critical"}, starts_at=now,
    ...                  ends_at=now + timedelta(minutes=5))
    >>> Inhibitor([rule]).mutes({"alertname": "Slow", "severity": "warning"}, [critical], now)
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from vigie.notify.alert import Alert
from vigie.notify.config import InhibitRule
from vigie.notify.matchers import matches_all

__all__ = ["Inhibitor"]


class Inhibitor:
    """Applies a list of inhibition rules against the set of known alerts."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = list(rules)

    def mutes(self, labels: dict[str, str], alerts: Iterable[Alert], now: datetime) -> bool:
        """Whether an alert with ``labels`` is inhibited by one of ``alerts`` at ``now``."""
        return bool(self.inhibited_by(labels, alerts, now, first_only=True))

    def inhibited_by(
        self,
        labels: dict[str, str],
        alerts: Iterable[Alert],
        now: datetime,
        *,
        first_only: bool = False,
    ) -> list[str]:
        """Fingerprints of the firing alerts that inhibit an alert with ``labels`` at ``now``."""
        found: list[str] = []
        sources = None
        for rule in self.rules:
            if not matches_all(rule.target_matchers, labels):
                continue
            if sources is None:
                sources = [alert for alert in alerts if not alert.resolved_at(now)]
            target_is_source = matches_all(rule.source_matchers, labels)
            for source in sources:
                if target_is_source and source.labels == labels:
                    continue
                if not matches_all(rule.source_matchers, source.labels):
                    continue
                if all(source.labels.get(name, "") == labels.get(name, "") for name in rule.equal):
                    if source.fingerprint not in found:
                        found.append(source.fingerprint)
                    if first_only:
                        return found
        return found
