"""Silences: mute alerts matching a set of matchers for a while, as Alertmanager's silences do.

A silence is *pending* before ``starts_at``, *active* until ``ends_at``, then *expired*. Expiring an
active silence ends it now; expiring a pending one removes it. Silences survive restarts: the store
writes them to one JSON file atomically (write to a temporary file, then rename). The JSON shape of
:meth:`Silence.to_api` is Alertmanager's ``/api/v2/silences`` shape, so amtool-style clients and
the UI read them unchanged.

Example::

    >>> from datetime import datetime, timedelta, timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> store = SilenceStore()
    >>> silence = store.create('alertname="Down"', starts_at=now, ends_at=now + timedelta(hours=1),
    ...                        created_by="ops", comment="maintenance", now=now)
    >>> store.silenced_by({"alertname": "Down", "job": "app"}, now) == [silence.id]
    True
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from vigie.exceptions import RoutingConfigError
from vigie.notify.alert import format_time, parse_time
from vigie.notify.matchers import matches_all, parse_matchers
from vigie.store.interface import Matcher, MatchOp

__all__ = ["Silence", "SilenceState", "SilenceStore"]

SilenceState = Literal["pending", "active", "expired"]


@dataclass
class Silence:
    """One silence."""

    id: str
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def state(self, now: datetime) -> SilenceState:
        """Where the silence is in its life at ``now``."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def mutes(self, labels: dict[str, str], now: datetime) -> bool:
        """Whether this silence mutes an alert with ``labels`` at ``now``."""
        return self.state(now) == "active" and matches_all(self.matchers, labels)

    def to_api(self, now: datetime) -> dict[str, Any]:
        """Alertmanager's API v2 representation (``GettableSilence``)."""
        return {
            "id": self.id,
            "matchers": [
                {
                    "name": matcher.name,
                    "value": matcher.value,
                    "isRegex": matcher.op in ("=~", "!~"),
                    "isEqual": matcher.op in ("=", "=~"),
                }
                for matcher in self.matchers
            ],
            "startsAt": format_time(self.starts_at),
            "endsAt": format_time(self.ends_at),
            "updatedAt": format_time(self.updated_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "status": {"state": self.state(now)},
        }

    @classmethod
    def from_api(cls, raw: dict[str, Any], now: datetime) -> Silence:
        """Build from an API v2 ``PostableSilence`` body; errors name the field."""
        if not isinstance(raw, dict):
            raise RoutingConfigError("silence: expected a JSON object")
        items = raw.get("matchers")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise RoutingConfigError("silence: matchers: expected a list of objects")
        times: dict[str, datetime | None] = {}
        for key in ("startsAt", "endsAt"):
            value = raw.get(key)
            if value is None or value == "":
                times[key] = None
                continue
            if not isinstance(value, str):
                raise RoutingConfigError(f"silence: {key}: expected an RFC 3339 timestamp")
            try:
                times[key] = parse_time(value)
            except ValueError:
                raise RoutingConfigError(f"silence: {key}: invalid timestamp {value!r}") from None
        ends_at = times["endsAt"]
        if ends_at is None:
            raise RoutingConfigError("silence: missing field endsAt")
        matchers = [_matcher_from_api(item) for item in items]
        return cls(
            id=str(raw.get("id") or ""),
            matchers=matchers,
            starts_at=times["startsAt"] or now,
            ends_at=ends_at,
            created_by=str(raw.get("createdBy", "")),
            comment=str(raw.get("comment", "")),
            updated_at=now,
        )


def _matcher_from_api(raw: dict[str, Any]) -> Matcher:
    name, value = raw.get("name"), raw.get("value")
    if not isinstance(name, str) or not name or not isinstance(value, str):
        raise RoutingConfigError("silence: matchers: each needs a string name and value")
    is_regex, is_equal = bool(raw.get("isRegex")), bool(raw.get("isEqual", True))
    op: MatchOp = ("=~" if is_equal else "!~") if is_regex else ("=" if is_equal else "!=")
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as error:
            raise RoutingConfigError(
                f"silence: invalid regular expression {value!r}: {error}"
            ) from None
    return Matcher(name, op, value)


class SilenceStore:
    """Every silence, kept in memory and (with ``path``) in a JSON file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._path = Path(path) if path else None
        self._silences: dict[str, Silence] = {}
        self._lock = threading.Lock()
        if self._path is not None and self._path.exists():
            self._load()

    def create(
        self,
        matchers: str | list[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
    ) -> Silence:
        """Add a silence (matchers as Alertmanager text or Matcher objects)."""
        parsed = parse_matchers(matchers) if isinstance(matchers, str) else list(matchers)
        silence = Silence(
            id="",
            matchers=parsed,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            updated_at=now,
        )
        return self.add(silence, now)

    def add(self, silence: Silence, now: datetime) -> Silence:
        """Validate and store ``silence``; an existing id is updated as Alertmanager does."""
        _validate(silence)
        with self._lock:
            if silence.id and silence.id in self._silences:
                old = self._silences[silence.id]
                if old.state(now) == "expired":
                    raise RoutingConfigError(f"silence {silence.id} is expired and cannot change")
            elif silence.id:
                raise RoutingConfigError(f"silence {silence.id} not found")
            else:
                silence.id = str(uuid.uuid4())
            silence.updated_at = now
            self._silences[silence.id] = silence
            self._save()
        return silence

    def expire(self, silence_id: str, now: datetime) -> None:
        """End an active silence now; remove a pending one."""
        with self._lock:
            silence = self._silences.get(silence_id)
            if silence is None:
                raise RoutingConfigError(f"silence {silence_id} not found")
            state = silence.state(now)
            if state == "expired":
                raise RoutingConfigError(f"silence {silence_id} already expired")
            if state == "pending":
                del self._silences[silence_id]
            else:
                silence.ends_at = now
                silence.updated_at = now
            self._save()

    def get(self, silence_id: str) -> Silence | None:
        """The silence with this id, if any."""
        with self._lock:
            return self._silences.get(silence_id)

    def all(self) -> list[Silence]:
        """Every silence, newest first."""
        with self._lock:
            return sorted(self._silences.values(), key=lambda s: s.updated_at, reverse=True)

    def silenced_by(self, labels: dict[str, str], now: datetime) -> list[str]:
        """Ids of the active silences muting ``labels``."""
        with self._lock:
            return [s.id for s in self._silences.values() if s.mutes(labels, now)]

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        records = [
            {**silence.to_api(silence.updated_at), "status": None}
            for silence in self._silences.values()
        ]
        temporary = self._path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(records, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._path)

    def _load(self) -> None:
        assert self._path is not None
        try:
            records = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise RoutingConfigError(
                f"cannot read silences: {error}", source=str(self._path)
            ) from None
        for record in records:
            silence = Silence.from_api(record, parse_time(record["updatedAt"]))
            self._silences[silence.id] = silence


def _validate(silence: Silence) -> None:
    if not silence.matchers:
        raise RoutingConfigError("silence: at least one matcher is required")
    if all(matcher.matches("") for matcher in silence.matchers):
        raise RoutingConfigError("silence: at least one matcher must not match the empty string")
    if silence.ends_at <= silence.starts_at:
        raise RoutingConfigError("silence: endsAt must be after startsAt")
