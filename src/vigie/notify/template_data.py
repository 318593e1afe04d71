"""What notification templates see: Alertmanager's template data, methods and functions.

A template written for Alertmanager reads ``.Status``, ``.Receiver``, ``.Alerts`` (with the
``.Firing`` and ``.Resolved`` methods), ``.GroupLabels``, ``.CommonLabels``,
``.CommonAnnotations``, ``.ExternalURL``, and per alert ``.Labels``, ``.Annotations``,
``.StartsAt``, ``.EndsAt``, ``.GeneratorURL``, ``.Fingerprint``; label sets are Alertmanager's
``KV`` with ``.SortedPairs`` (``alertname`` first), ``.Names``, ``.Values`` and ``.Remove``.
:data:`ALERTMANAGER` is the dialect for :class:`vigie.rules.templating.Template`: Alertmanager's
function map (``toUpper``, ``toLower``, ``title``, ``trimSpace``, ``join``, ``match``,
``safeHtml``, ``reReplaceAll``, ``stringSlice``, and the newer ``date``, ``tz``, ``since``,
``humanizeDuration``) on top of Go's built-ins.

Example::

    >>> from datetime import datetime, timezone
    >>> from vigie.notify.alert import Alert
    >>> from vigie.rules.templating import Template
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> data = template_data("team", {"alertname": "Down"},
    ...                      [Alert({"alertname": "Down", "job": "app"}, starts_at=t0)], now=t0)
    >>> text = '{{ .Status }} {{ (index .Alerts 0).Labels.job }} {{ .CommonLabels.Names }}'
    >>> Template(text, dialect=ALERTMANAGER).execute(data)
    'firing app [alertname job]'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.notify.alert import ZERO_TIME, Alert
from vigie.notify.payload import common_labels
from vigie.rules.template_functions import (
    PURE_FUNCTIONS,
    GoMethod,
    GoValue,
    SafeHtml,
    TemplateFunctionError,
    go_string,
    go_time_format,
    humanize_duration,
)
from vigie.rules.templating import Dialect

__all__ = [
    "ALERTMANAGER",
    "KV",
    "Pair",
    "Pairs",
    "TemplateAlert",
    "TemplateAlerts",
    "TemplateData",
    "quote_meta",
    "template_data",
]


@dataclass(frozen=True)
class Pair(GoValue):
    """One label or annotation: ``.Name`` and ``.Value``."""

    Name: str  # Go field names, as templates spell them
    Value: str

    go_type = "template.Pair"

    def go_field(self, name: str) -> Any:
        if name in ("Name", "Value"):
            return getattr(self, name)
        raise KeyError(name)

    def go_string(self) -> str:
        return f"{{{self.Name} {self.Value}}}"


class Pairs(list[Pair], GoValue):
    """Sorted pairs, with ``.Names`` and ``.Values``; prints as ``[{a 1} {b 2}]``."""

    go_type = "template.Pairs"

    def go_field(self, name: str) -> Any:
        if name == "Names":
            return GoMethod("Names", lambda: [pair.Name for pair in self])
        if name == "Values":
            return GoMethod("Values", lambda: [pair.Value for pair in self])
        raise KeyError(name)


class KV(dict[str, str], GoValue):
    """A label set with Alertmanager's methods; other names are keys (absent ones are "").

    It prints as a Go map (``map[a:1 b:2]``), as in Alertmanager 0.25 (``String()`` came later).
    """

    go_type = "template.KV"

    def sorted_pairs(self) -> Pairs:
        """``alertname`` first, then the other names in order (Alertmanager's SortedPairs)."""
        names = sorted(name for name in self if name != "alertname")
        if "alertname" in self:
            names.insert(0, "alertname")
        return Pairs(Pair(name, self[name]) for name in names)

    def remove(self, names: object) -> KV:
        """A copy without ``names`` (a list of strings)."""
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise TemplateFunctionError("wrong type for value; expected []string")
        return KV({key: value for key, value in self.items() if key not in names})

    def go_field(self, name: str) -> Any:
        methods: dict[str, GoMethod] = {
            "SortedPairs": GoMethod("SortedPairs", self.sorted_pairs),
            "Remove": GoMethod("Remove", self.remove, 1),
            "Names": GoMethod("Names", lambda: self.sorted_pairs().go_field("Names")()),
            "Values": GoMethod("Values", lambda: self.sorted_pairs().go_field("Values")()),
        }
        return methods[name]


@dataclass(frozen=True)
class TemplateAlert(GoValue):
    """One alert of the group, as Alertmanager's ``template.Alert``."""

    Status: str
    Labels: KV
    Annotations: KV
    StartsAt: datetime
    EndsAt: datetime
    GeneratorURL: str
    Fingerprint: str

    go_type = "template.Alert"
    _FIELDS = ("Status", "Labels", "Annotations", "StartsAt", "EndsAt", "GeneratorURL")

    def go_field(self, name: str) -> Any:
        if name in (*self._FIELDS, "Fingerprint"):
            return getattr(self, name)
        raise KeyError(name)

    def go_string(self) -> str:
        parts = [self.Status, go_string(self.Labels), go_string(self.Annotations)]
        parts += [go_string(self.StartsAt), go_string(self.EndsAt), self.GeneratorURL]
        return "{" + " ".join([*parts, self.Fingerprint]) + "}"


class TemplateAlerts(list[TemplateAlert], GoValue):
    """The group's alerts, with ``.Firing`` and ``.Resolved``."""

    go_type = "template.Alerts"

    def go_field(self, name: str) -> Any:
        if name == "Firing":
            return GoMethod("Firing", lambda: [a for a in self if a.Status == "firing"])
        if name == "Resolved":
            return GoMethod("Resolved", lambda: [a for a in self if a.Status == "resolved"])
        raise KeyError(name)


@dataclass(frozen=True)
class TemplateData(GoValue):
    """The data of one notification (Alertmanager's ``template.Data``)."""

    Receiver: str
    Status: str
    Alerts: TemplateAlerts
    GroupLabels: KV
    CommonLabels: KV
    CommonAnnotations: KV
    ExternalURL: str

    go_type = "*template.Data"
    _FIELDS = ("Receiver", "Status", "Alerts", "GroupLabels", "CommonLabels")

    def go_field(self, name: str) -> Any:
        if name in (*self._FIELDS, "CommonAnnotations", "ExternalURL"):
            return getattr(self, name)
        raise KeyError(name)


_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta`` (Alertmanager puts the receiver name through it)."""
    return _META.sub(r"\\\1", text)


def template_data(
    receiver: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[Alert],
    *,
    now: datetime,
    external_url: str = "",
) -> TemplateData:
    """The template data of a notification of ``alerts`` (ordered) to ``receiver``."""
    entries = TemplateAlerts()
    for alert in alerts:
        resolved = alert.resolved_at(now)
        entries.append(
            TemplateAlert(
                Status="resolved" if resolved else "firing",
                Labels=KV(alert.labels),
                Annotations=KV(alert.annotations),
                StartsAt=alert.starts_at,
                # Alertmanager hides the end of an alert that still fires.
                EndsAt=alert.ends_at if resolved else ZERO_TIME,
                GeneratorURL=alert.generator_url,
                Fingerprint=alert.fingerprint,
            )
        )
    firing = any(entry.Status == "firing" for entry in entries)
    return TemplateData(
        Receiver=quote_meta(receiver),
        Status="firing" if firing else "resolved",
        Alerts=entries,
        GroupLabels=KV(group_labels),
        CommonLabels=KV(common_labels([alert.labels for alert in alerts])),
        CommonAnnotations=KV(common_labels([alert.annotations for alert in alerts])),
        ExternalURL=external_url,
    )


# ---------------------------------------------------------------------------- functions


def _title(text: str) -> str:
    # golang.org/x/text/cases.Title: each word's first letter up, the rest down; an apostrophe
    # inside a word does not start a new one ("don't" -> "Don't").
    return re.sub(
        r"[^\W_]+(?:['’][^\W_]+)*", lambda m: m.group()[0].upper() + m.group()[1:].lower(), text
    )


def _join(separator: str, items: object) -> str:
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise TemplateFunctionError("wrong type for value; expected []string")
    return separator.join(items)


def _string_slice(*items: str) -> list[str]:
    return list(items)


def _moment(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise TemplateFunctionError("wrong type for value; expected time.Time")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _date(layout: str, moment: object) -> str:
    return go_time_format(_moment(moment), layout)


def _tz(name: str, moment: object) -> datetime:
    try:
        zone = ZoneInfo(name) if name not in ("", "UTC") else UTC
    except (ZoneInfoNotFoundError, ValueError):
        raise TemplateFunctionError(f"unknown time zone {name}") from None
    return _moment(moment).astimezone(zone)


def _since(moment: object) -> timedelta:
    return datetime.now(UTC) - _moment(moment)


def _humanize_duration(value: object) -> str:
    if isinstance(value, timedelta):
        return humanize_duration(value.total_seconds())
    return humanize_duration(value)


_S, _ANY = "string", "interface {}"
_FUNCTIONS: dict[str, tuple[Callable[..., Any], tuple[tuple[str, ...], str | None]]] = {
    "toUpper": (str.upper, ((_S,), None)),
    "toLower": (str.lower, ((_S,), None)),
    "title": (_title, ((_S,), None)),
    "trimSpace": (str.strip, ((_S,), None)),
    "join": (_join, ((_S, _ANY), None)),
    "match": (PURE_FUNCTIONS["match"], ((_S, _S), None)),
    "safeHtml": (SafeHtml, ((_S,), None)),
    "reReplaceAll": (PURE_FUNCTIONS["reReplaceAll"], ((_S, _S, _S), None)),
    "stringSlice": (_string_slice, ((), _S)),
    "date": (_date, ((_S, _ANY), None)),
    "tz": (_tz, ((_S, _ANY), None)),
    "since": (_since, ((_ANY,), None)),
    "humanizeDuration": (_humanize_duration, ((_ANY,), None)),
}

#: Alertmanager's templates: its function map; only ``$`` is predefined.
ALERTMANAGER = Dialect(
    functions={name: entry[0] for name, entry in _FUNCTIONS.items()},
    signatures={name: entry[1] for name, entry in _FUNCTIONS.items()},
)
