"""The UI's dashboards by name and their data in one evaluation: steps, cache, empty reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.server.dashboards import (
    DashboardData,
    dashboard_definition,
    dashboard_names,
    empty_reason,
    nice_step,
)
from vigie.server.runtime import Server, ServerOptions
from vigie.store.memory import MemoryStorage

END_S = 1_700_000_000


def _store() -> MemoryStorage:
    storage = MemoryStorage()
    appender = storage.appender()
    for i in range(121):  # an hour, every 30 s: 60 % of the memory used, one busy CPU
        at = (END_S - 3600 + i * 30) * 1000
        appender.append({"__name__": "node_memory_MemTotal_bytes", "instance": "h"}, at, 10.0)
        appender.append({"__name__": "node_memory_MemAvailable_bytes", "instance": "h"}, at, 4.0)
        idle = {"__name__": "node_cpu_seconds_total", "instance": "h", "cpu": "0", "mode": "idle"}
        appender.append(idle, at, i * 30 * 0.25)
        pool = {"__name__": "db_client_operation_duration_seconds_count", "pool_name": "app",
                "db_system_name": "postgresql", "db_operation_name": "SELECT"}  # fmt: skip
        appender.append(pool, at, float(i))
    appender.commit()
    return storage


def test_dashboards_by_short_name_and_uid() -> None:
    """The overview and infrastructure dashboards answer to a short name and to their uid."""
    assert dashboard_names()["overview"] == "vigie-ai-overview"
    assert dashboard_names()["infrastructure"] == "vigie-infrastructure"
    assert dashboard_definition("vigie-infrastructure") == dashboard_definition("infrastructure")
    assert dashboard_definition()["uid"] == "vigie-ai-overview"
    with pytest.raises(KeyError):
        dashboard_definition("nope")


@pytest.mark.parametrize(
    ("range_s", "width_px", "step"),
    [(3600, 466, 30), (3600, 1380, 10), (300, 466, 5), (86400, 466, 600), (604800, 100, 21600)],
)
def test_step_follows_the_panel_width(range_s: int, width_px: int, step: int) -> None:
    """One point per 3 pixels, rounded up to a nice step, never under 5 s."""
    assert nice_step(range_s, width_px) == step


def test_empty_reason_names_the_missing_source() -> None:
    """Missing metric, missing series of a present metric, and data outside the window."""
    querier = _store().querier()
    now = END_S * 1000
    assert empty_reason(querier, ["pg_up"], now) == (
        "no data: pg_up is not collected; is the PostgreSQL collector configured? "
        "(vigie.collectors.postgres)"
    )
    redis = 'rate(db_client_operation_duration_seconds_count{db_system_name="redis"}[5m])'
    assert empty_reason(querier, [redis], now) == (
        "no data: no series matches "
        'db_client_operation_duration_seconds_count{db_system_name="redis"}; '
        "does the app call vigie.instrument_redis(client)?"
    )
    assert empty_reason(querier, ["node_memory_MemTotal_bytes offset 1d"], now) == (
        "no data in this time range (the series exist, with no sample here)"
    )
    assert empty_reason(querier, ["sum(rate(mystery_total[5m]))"], now).endswith(
        "mystery_total is not collected; is the service that exports it scraped?"
    )


def test_evaluate_answers_every_panel_and_caches(tmp_path: Path) -> None:
    """All panels in one answer, in order, each with its step; identical asks hit the cache."""
    clock = [100.0]
    server = Server(ServerOptions(data_dir=tmp_path), storage=_store())
    boards = DashboardData(server, clock=lambda: clock[0])
    data = boards.evaluate("infrastructure", end_s=END_S, range_s=3600, width_px=1380,
                           extra=("vector(7)",))  # fmt: skip
    definition = dashboard_definition("infrastructure")
    panels = [panel for row in definition["rows"] for panel in row["panels"]]
    assert len(data["panels"]) == len(panels)
    assert data["extra"][0]["result"] == [{"metric": {}, "value": [END_S, "7"]}]
    cpu, memory = data["panels"][0], data["panels"][1]
    assert cpu["step"] == 30
    assert cpu["results"][0]["result"][0]["values"][-1] == [END_S, "0.75"]
    assert memory["results"][0]["result"][0]["values"][0] == [END_S - 3600, "0.6"]
    assert memory["results"][0]["window"] == [END_S - 3600, END_S]
    titles = [panel["title"] for panel in panels]
    pg_up = data["panels"][titles.index("PostgreSQL up")]
    assert pg_up["empty"] is None  # a stat panel says "nothing counted" itself
    size = data["panels"][titles.index("Database size")]
    assert size["empty"].startswith("no data: pg_database_size_bytes is not collected")
    assert data["cached"] is False
    again = boards.evaluate("infrastructure", end_s=END_S, range_s=3600, width_px=1380,
                            extra=("vector(7)",))  # fmt: skip
    assert again["cached"] is True
    assert again["panels"] == data["panels"]
    clock[0] += 11  # past the 10 s time to live
    later = boards.evaluate("infrastructure", end_s=END_S, range_s=3600, width_px=1380,
                            extra=("vector(7)",))  # fmt: skip
    assert later["cached"] is False


def test_a_failing_query_does_not_blank_the_others(tmp_path: Path) -> None:
    """An extra query that fails carries its error; the panels still answer."""
    server = Server(ServerOptions(data_dir=tmp_path), storage=_store())
    data = DashboardData(server).evaluate(
        "infrastructure", end_s=END_S, range_s=3600, width_px=1380, extra=("sum(",)
    )
    assert data["extra"][0]["resultType"] == "error"
    assert data["extra"][0]["error"] == "1:4: parse error: unclosed left parenthesis"
    assert data["panels"][0]["results"][0]["result"]
