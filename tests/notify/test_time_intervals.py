"""Time intervals contain the moments Alertmanager says they contain."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigie.exceptions import RoutingConfigError
from vigie.notify.time_intervals import TimeInterval


def test_weekday_and_hours_in_a_location() -> None:
    """Hours are read in the interval's time zone."""
    office = TimeInterval.from_config(
        {
            "weekdays": ["monday:friday"],
            "times": [{"start_time": "09:00", "end_time": "17:00"}],
            "location": "Europe/Paris",
        }
    )
    assert office.contains(datetime(2026, 11, 23, 8, 30, tzinfo=UTC))  # 09:30 in Paris, Monday
    assert not office.contains(datetime(2026, 11, 23, 16, 30, tzinfo=UTC))  # 17:30 in Paris
    assert not office.contains(datetime(2026, 11, 22, 10, 0, tzinfo=UTC))  # Sunday


def test_negative_days_and_months() -> None:
    """Negative days count from the end of the month; months by name or number."""
    end_of_month = TimeInterval.from_config({"days_of_month": ["-2:-1"], "months": ["february"]})
    assert end_of_month.contains(datetime(2028, 2, 29, tzinfo=UTC))
    assert end_of_month.contains(datetime(2028, 2, 28, tzinfo=UTC))
    assert not end_of_month.contains(datetime(2028, 2, 27, tzinfo=UTC))
    assert not end_of_month.contains(datetime(2028, 3, 31, tzinfo=UTC))


@pytest.mark.parametrize(
    "raw",
    [
        {"weekdays": ["funday"]},
        {"times": [{"start_time": "10:00", "end_time": "09:00"}]},
        {"days_of_month": ["0"]},
        {"location": "Mars/Olympus"},
        {"hours": ["1"]},
    ],
)
def test_invalid_intervals(raw: dict[str, object]) -> None:
    """Invalid fields are refused."""
    with pytest.raises(RoutingConfigError):
        TimeInterval.from_config(raw)
