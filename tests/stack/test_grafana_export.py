"""Grafana provisioning: dashboards valid for the Grafana SDK's types, datasources linked."""

from __future__ import annotations

import json

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import gauge, heatmap, prometheus, stat, table, timeseries

from vigie.rules.packs.dashboards import Dashboard, builtin_dashboards
from vigie.stack.grafana import dashboard_provider, datasources, grafana_dashboard

_OPTIONS = {
    "timeseries": timeseries.Options,
    "stat": stat.Options,
    "heatmap": heatmap.Options,
    "table": table.Options,
    "gauge": gauge.Options,
}


@pytest.mark.parametrize("dashboard", builtin_dashboards(), ids=lambda item: item.uid)
def test_dashboard_round_trips_through_sdk_types(dashboard: Dashboard) -> None:
    """The exported JSON decodes into the SDK's typed models and encodes back unchanged."""
    register_default_plugins()
    exported = json.loads(json.dumps(grafana_dashboard(dashboard)))
    typed = models.Dashboard.from_json(exported)
    assert json.loads(json.dumps(typed, cls=JSONEncoder)) == exported
    panels = [panel for panel in typed.panels or [] if isinstance(panel, models.Panel)]
    assert len(panels) == len(dashboard.panels())
    for panel, source in zip(panels, dashboard.panels(), strict=True):
        assert panel.type_val == source.kind
        assert isinstance(panel.options, _OPTIONS[source.kind])
        assert [target.expr for target in panel.targets or []
                if isinstance(target, prometheus.Dataquery)] == [
            query.expr for query in source.queries
        ]  # fmt: skip
        assert panel.datasource is not None
        assert panel.datasource.uid == "prometheus"


def test_panel_ids_and_positions_are_unique() -> None:
    """Every panel and row has its own id and no two panels overlap on the grid."""
    for dashboard in builtin_dashboards():
        model = grafana_dashboard(dashboard)
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids))
        cells = set()
        for panel in model["panels"]:
            grid = panel["gridPos"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, panel["title"]
                    cells.add((x, y))
            assert grid["x"] + grid["w"] <= 24


def test_datasources_are_linked() -> None:
    """Prometheus is the default; Loki links trace ids to Tempo; Tempo links back to logs."""
    sources = {item["uid"]: item for item in datasources()["datasources"]}
    assert sources["prometheus"]["isDefault"] is True
    assert sources["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"] == "tempo"
    assert sources["tempo"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"


def test_provider_reads_the_dashboards_folder() -> None:
    """The dashboard provider loads the folder compose mounts, read-only."""
    provider = dashboard_provider()["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert provider["allowUiUpdates"] is False
