"""The alert as the notifier sees it, with Alertmanager's identity and lifecycle rules.

An alert is identified by its label set's *fingerprint* (the same FNV-1a hash Alertmanager and
Prometheus compute, printed as 16 hex digits), so the webhook payloads vigie sends carry the very
fingerprints Alertmanager would. An alert is resolved once its ``ends_at`` is in the past; alerts
posted without an end get one ``resolve_timeout`` ahead and are marked as timing out, and two
reports of the same alert merge as Alertmanager's ``Alert.Merge`` does.

Example::

    >>> from datetime import datetime, timezone
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> alert = Alert(labels={"alertname": "Down"}, starts_at=t0)
    >>> alert.fingerprint
    '6accfd3d0992a914'
    >>> alert.resolved_at(t0)
    False
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["ZERO_TIME", "Alert", "fingerprint", "format_time", "parse_time", "sort_key"]

#: Go's zero time, which Alertmanager prints for "no end yet".
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF
_MASK = (1 << 64) - 1


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus's label-set fingerprint (FNV-1a 64 over sorted pairs), as 16 hex digits."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), bytes([_SEPARATOR]), labels[name].encode(), b"\xff"):
            for byte in chunk:
                value ^= byte
                value = (value * _FNV_PRIME) & _MASK
    return f"{value:016x}"


def format_time(moment: datetime) -> str:
    """RFC 3339 with nanosecond precision trimmed, as Go's time.Time marshals to JSON."""
    moment = moment.astimezone(UTC)
    if moment == ZERO_TIME:
        return "0001-01-01T00:00:00Z"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any fractional precision, ``Z`` or an offset)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "." in value:
        head, rest = value.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{(digits + '000000')[:6]}{rest}"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass
class Alert:
    """One alert: labels identify it, annotations describe it, times bound its activity."""

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime = ZERO_TIME
    ends_at: datetime = ZERO_TIME
    generator_url: str = ""
    updated_at: datetime = ZERO_TIME
    #: True when ``ends_at`` was not given by the sender but set from ``resolve_timeout``.
    timeout: bool = False
    #: The rule's current value when the alert comes from vigie's own rules (shown in chat and
    #: e-mail text; not part of Alertmanager's payload, which has no such field).
    value: float | None = None

    @property
    def fingerprint(self) -> str:
        """The identity of the alert: the fingerprint of its labels."""
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        """The ``alertname`` label ("" when absent)."""
        return self.labels.get("alertname", "")

    def resolved_at(self, now: datetime) -> bool:
        """Whether the alert has ended at ``now``."""
        return self.ends_at != ZERO_TIME and self.ends_at <= now

    def merge(self, other: Alert, now: datetime) -> Alert:
        """Combine two reports of the same alert, the younger winning (Alertmanager's Merge)."""
        older, younger = (self, other) if self.updated_at <= other.updated_at else (other, self)
        result = dataclasses.replace(younger)
        if older.starts_at < younger.starts_at:
            result.starts_at = older.starts_at
        if younger.resolved_at(now):
            # The latest explicit end wins when both are resolved.
            if older.resolved_at(now) and older.ends_at > younger.ends_at:
                result.ends_at = older.ends_at
        elif older.ends_at > younger.ends_at and not older.timeout:
            # An explicit (non-timeout) end always rules when it is the latest.
            result.ends_at = older.ends_at
        return result

    @classmethod
    def received(
        cls,
        labels: Mapping[str, str],
        *,
        now: datetime,
        resolve_timeout: timedelta,
        annotations: Mapping[str, str] | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        generator_url: str = "",
    ) -> Alert:
        """An alert as posted to the API, with Alertmanager's defaults for missing times."""
        start = starts_at or (ends_at if ends_at is not None else now)
        return cls(
            labels=dict(labels),
            annotations=dict(annotations or {}),
            starts_at=start,
            ends_at=ends_at or now + resolve_timeout,
            generator_url=generator_url,
            updated_at=now,
            timeout=ends_at is None,
        )


def _compare(left: Alert, right: Alert) -> int:
    for name in ("job", "instance"):
        left_value, right_value = left.labels.get(name), right.labels.get(name)
        if left_value is None and right_value is None:
            continue
        if left_value is None:
            return 1
        if right_value is None:
            return -1
        if left_value != right_value:
            return -1 if left_value < right_value else 1
    return _compare_label_sets(left.labels, right.labels)


def _compare_label_sets(left: Mapping[str, str], right: Mapping[str, str]) -> int:
    """Prometheus's ``LabelSet.Before``: fewer labels first, then the first differing name."""
    if len(left) != len(right):
        return -1 if len(left) < len(right) else 1
    for name in sorted(set(left) | set(right)):
        if name not in left:
            return -1
        if name not in right:
            return 1
        if left[name] != right[name]:
            return -1 if left[name] < right[name] else 1
    return 0


#: Sort key giving Alertmanager's alert order: by ``job``, then ``instance``, then label sets.
sort_key = functools.cmp_to_key(_compare)
