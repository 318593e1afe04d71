"""Silences mute matching alerts while active, persist, and expire like Alertmanager's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigie.exceptions import RoutingConfigError
from vigie.notify.silences import SilenceStore

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_lifecycle_and_persistence(tmp_path: Path) -> None:
    """pending → active → expired; a restart keeps every silence."""
    path = tmp_path / "silences.json"
    store = SilenceStore(path)
    silence = store.create(
        'alertname="Cost", budget=~"daily|monthly"',
        starts_at=T0 + timedelta(minutes=1),
        ends_at=T0 + timedelta(hours=1),
        created_by="ops",
        comment="budget raised",
        now=T0,
    )
    labels = {"alertname": "Cost", "budget": "daily"}
    assert silence.state(T0) == "pending"
    assert store.silenced_by(labels, T0) == []
    later = T0 + timedelta(minutes=2)
    assert store.silenced_by(labels, later) == [silence.id]
    assert store.silenced_by({"alertname": "Cost", "budget": "weekly"}, later) == []

    reopened = SilenceStore(path)
    assert reopened.silenced_by(labels, later) == [silence.id]
    reopened.expire(silence.id, later)
    assert SilenceStore(path).silenced_by(labels, later + timedelta(seconds=1)) == []
    assert reopened.get(silence.id).to_api(later)["status"]["state"] == "expired"


def test_expiring_a_pending_silence_removes_it() -> None:
    """A silence that never started disappears when expired."""
    store = SilenceStore()
    silence = store.create(
        "a=b",
        starts_at=T0 + timedelta(hours=1),
        ends_at=T0 + timedelta(hours=2),
        created_by="x",
        comment="",
        now=T0,
    )
    store.expire(silence.id, T0)
    assert store.get(silence.id) is None


@pytest.mark.parametrize(
    ("matchers", "ends", "message"),
    [
        ('a=~".*"', timedelta(hours=1), "must not match the empty string"),
        ("a=b", timedelta(0), "endsAt must be after startsAt"),
        ([], timedelta(hours=1), "at least one matcher"),
    ],
)
def test_invalid_silences(matchers: object, ends: timedelta, message: str) -> None:
    """Silences that would mute everything, or end before starting, are refused."""
    with pytest.raises(RoutingConfigError, match=message):
        SilenceStore().create(
            matchers,
            starts_at=T0,
            ends_at=T0 + ends,
            created_by="x",
            comment="",
            now=T0,  # type: ignore[arg-type]
        )


def test_api_round_trip() -> None:
    """The API v2 shape converts back to an equal silence."""
    from vigie.notify.silences import Silence

    store = SilenceStore()
    silence = store.create(
        'a="1", b!~"x|y"',
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        created_by="me",
        comment="c",
        now=T0,
    )
    raw = silence.to_api(T0)
    assert raw["matchers"][1] == {"name": "b", "value": "x|y", "isRegex": True, "isEqual": False}
    again = Silence.from_api(raw, T0)
    assert again.matchers == silence.matchers
    assert again.ends_at == silence.ends_at
