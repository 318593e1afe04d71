"""Alertmanager time intervals: when a route is muted (``mute_time_intervals``) or active.

The format is Alertmanager's: each interval lists ``times`` (``HH:MM`` ranges), ``weekdays``,
``days_of_month`` (negative counts from the month's end), ``months``, ``years`` and a
``location`` (IANA time zone). A moment is inside an interval when every listed field contains it.

Example::

    >>> from datetime import datetime, timezone
    >>> office = TimeInterval.from_config({"weekdays": ["monday:friday"],
    ...                                   "times": [{"start_time": "09:00", "end_time": "17:00"}]})
    >>> office.contains(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))  # a Monday
    True
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.exceptions import RoutingConfigError

__all__ = ["TimeInterval"]

_WEEKDAYS = {name: index for index, name in enumerate(calendar.day_name)}  # monday=0
_MONTHS = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_KNOWN_FIELDS = {"times", "weekdays", "days_of_month", "months", "years", "location"}


@dataclass(frozen=True)
class TimeInterval:
    """One Alertmanager time interval; empty fields match everything."""

    minutes: tuple[tuple[int, int], ...] = ()
    weekdays: tuple[tuple[int, int], ...] = ()
    days_of_month: tuple[tuple[int, int], ...] = ()
    months: tuple[tuple[int, int], ...] = ()
    years: tuple[tuple[int, int], ...] = ()
    location: ZoneInfo | None = field(default=None)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> TimeInterval:
        """Build from a YAML mapping; errors name the field."""
        unknown = set(raw) - _KNOWN_FIELDS
        if unknown:
            raise RoutingConfigError(f"unknown time interval field(s): {sorted(unknown)}")
        location = None
        if raw.get("location"):
            try:
                location = ZoneInfo(str(raw["location"]))
            except (ZoneInfoNotFoundError, ValueError):
                raise RoutingConfigError(f"unknown location {raw['location']!r}") from None
        return cls(
            minutes=tuple(_time_range(item) for item in raw.get("times") or ()),
            weekdays=_ranges(raw.get("weekdays"), _weekday, "weekdays"),
            days_of_month=_ranges(raw.get("days_of_month"), _day_of_month, "days_of_month"),
            months=_ranges(raw.get("months"), _month, "months"),
            years=_ranges(raw.get("years"), _year, "years"),
            location=location,
        )

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside this interval (in its location's local time)."""
        local = moment.astimezone(self.location) if self.location else moment
        minute = local.hour * 60 + local.minute
        if self.minutes and not any(start <= minute < end for start, end in self.minutes):
            return False
        if self.weekdays and not _within(local.weekday(), self.weekdays):
            return False
        if self.days_of_month:
            days = calendar.monthrange(local.year, local.month)[1]
            resolved = [
                (_absolute_day(a, days), _absolute_day(b, days)) for a, b in self.days_of_month
            ]
            if not _within(local.day, resolved):
                return False
        if self.months and not _within(local.month, self.months):
            return False
        return not (self.years and not _within(local.year, self.years))


def _within(value: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(start <= value <= end for start, end in ranges)


def _absolute_day(day: int, days_in_month: int) -> int:
    return days_in_month + day + 1 if day < 0 else day


def _time_range(raw: Mapping[str, Any]) -> tuple[int, int]:
    start, end = (
        _clock(raw.get("start_time"), "start_time"),
        _clock(raw.get("end_time"), "end_time"),
    )
    if start >= end:
        raise RoutingConfigError(f"start_time {raw.get('start_time')} must be before end_time")
    return start, end


def _clock(text: object, name: str) -> int:
    try:
        hours, minutes = str(text).split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        raise RoutingConfigError(f"{name}: expected HH:MM, got {text!r}") from None
    if not 0 <= value <= 24 * 60 or not 0 <= int(minutes) < 60:
        raise RoutingConfigError(f"{name}: {text!r} is not a time of day")
    return value


def _ranges(
    items: Sequence[object] | None, convert: Callable[[str], int], name: str
) -> tuple[tuple[int, int], ...]:
    found = []
    for item in items or ():
        text = str(item).strip().lower()
        try:
            if ":" in text:
                first, last = text.split(":", 1)
                found.append((convert(first), convert(last)))
            else:
                found.append((convert(text), convert(text)))
        except (KeyError, ValueError):
            raise RoutingConfigError(f"{name}: invalid value {item!r}") from None
    return tuple(found)


def _weekday(text: str) -> int:
    return _WEEKDAYS[text.capitalize()]


def _month(text: str) -> int:
    return _MONTHS[text] if text in _MONTHS else _checked(int(text), 1, 12)


def _day_of_month(text: str) -> int:
    value = int(text)
    if value == 0 or not -31 <= value <= 31:
        raise ValueError(text)
    return value


def _year(text: str) -> int:
    return _checked(int(text), 1, 9999)


def _checked(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(value)
    return value
