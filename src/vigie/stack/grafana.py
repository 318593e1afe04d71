"""Grafana provisioning: datasources, the dashboard provider and the dashboards themselves.

The dashboards are built from vigie's own panel definitions
(:mod:`vigie.rules.packs.dashboards`) with the ``grafana-foundation-sdk`` builders, so the JSON
follows Grafana's schema by construction instead of by hand. Datasource uids are fixed
(``prometheus``, ``loki``, ``tempo``) so panels, alert rules and trace links can name them.

Example::

    >>> from vigie.rules.packs.dashboards import ai_overview_dashboard
    >>> model = grafana_dashboard(ai_overview_dashboard())
    >>> model["uid"], model["panels"][0]["type"]
    ('vigie-ai-overview', 'row')
"""

from __future__ import annotations

import json
from typing import Any

from vigie.rules.packs.dashboards import Dashboard, Panel

__all__ = ["DATASOURCE_UIDS", "dashboard_provider", "datasources", "grafana_dashboard"]

DATASOURCE_UIDS = {"prometheus": "prometheus", "loki": "loki", "tempo": "tempo"}


def datasources() -> dict[str, Any]:
    """``provisioning/datasources/vigie.yml``: Prometheus (default), Loki and Tempo, linked."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": DATASOURCE_UIDS["prometheus"],
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "editable": False,
                "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
            },
            {
                "name": "Loki",
                "type": "loki",
                "uid": DATASOURCE_UIDS["loki"],
                "access": "proxy",
                "url": "http://loki:3100",
                "editable": False,
                "jsonData": {
                    "derivedFields": [
                        {
                            "name": "trace_id",
                            "matcherRegex": '"trace_id":"(\\w+)"',
                            "datasourceUid": DATASOURCE_UIDS["tempo"],
                            "url": "$${__value.raw}",
                        }
                    ]
                },
            },
            {
                "name": "Tempo",
                "type": "tempo",
                "uid": DATASOURCE_UIDS["tempo"],
                "access": "proxy",
                "url": "http://tempo:3200",
                "editable": False,
                "jsonData": {
                    "tracesToLogsV2": {"datasourceUid": DATASOURCE_UIDS["loki"]},
                    "serviceMap": {"datasourceUid": DATASOURCE_UIDS["prometheus"]},
                },
            },
        ],
    }


def dashboard_provider() -> dict[str, Any]:
    """``provisioning/dashboards/vigie.yml``: load the exported dashboards, read-only."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "vigie",
                "folder": "vigie",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {
                    "path": "/var/lib/grafana/dashboards",
                    "foldersFromFilesStructure": False,
                },
            }
        ],
    }


def grafana_dashboard(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard model of ``dashboard``, built with the Grafana SDK."""
    from grafana_foundation_sdk.builders import dashboard as builders
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    built = (
        builders.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(list(dashboard.tags))
        .refresh(dashboard.refresh)
        .time("now-6h", "now")
        .timezone("browser")
        .readonly()
    )
    panel_id = 0
    for row in dashboard.rows:
        panel_id += 1
        built = built.with_row(builders.Row(row.title).id(panel_id))
        for panel in row.panels:
            panel_id += 1
            built = built.with_panel(_panel(panel, panel_id))
    # Decode through the SDK's typed models (panel plugins registered) and encode again: the
    # output is the schema's canonical form, and a field the schema does not know fails here.
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

    register_default_plugins()
    raw = json.loads(json.dumps(built.build(), cls=JSONEncoder))
    typed = DashboardModel.from_json(raw)
    model: dict[str, Any] = json.loads(json.dumps(typed, cls=JSONEncoder))
    return model


def _panel(panel: Panel, panel_id: int) -> Any:
    from grafana_foundation_sdk.builders import dashboard as builders
    from grafana_foundation_sdk.builders import gauge, heatmap, prometheus, stat, table, timeseries
    from grafana_foundation_sdk.models import dashboard as models

    kinds: dict[str, Any] = {
        "timeseries": timeseries.Panel,
        "stat": stat.Panel,
        "heatmap": heatmap.Panel,
        "table": table.Panel,
        "gauge": gauge.Panel,
    }
    source = models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UIDS["prometheus"])
    builder = (
        kinds[panel.kind]()
        .id(panel_id)
        .title(panel.title)
        .description(panel.description)
        .datasource(source)
        .unit(panel.unit)
        .span(panel.width)
        .height(panel.height)
    )
    for index, query in enumerate(panel.queries):
        target = (
            prometheus.Dataquery()
            .expr(query.expr)
            .legend_format(query.legend or "__auto")
            .ref_id(chr(ord("A") + index))
        )
        target = target.instant() if query.instant else target.range()
        if panel.kind == "heatmap":
            target = target.format(_heatmap_format())
        builder = builder.with_target(target)
    builder = _options(panel, builder)
    if panel.thresholds:
        steps = [models.Threshold(value=step.value, color=step.color) for step in panel.thresholds]
        builder = builder.thresholds(
            builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)
        )
    return builder


def _options(panel: Panel, builder: Any) -> Any:
    """Every panel gets its options object: Grafana's typed models refuse a null one."""
    from grafana_foundation_sdk.builders import common
    from grafana_foundation_sdk.models import common as common_models

    last = common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
    if panel.kind == "timeseries":
        legend = (
            common.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.LIST)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        return builder.legend(legend)
    if panel.kind in ("stat", "gauge"):
        return builder.reduce_options(last)
    if panel.kind == "table":
        return builder.show_header(True)
    return builder.calculate(False)  # heatmap: the query returns buckets already


def _heatmap_format() -> Any:
    from grafana_foundation_sdk.models import prometheus as prometheus_models

    return prometheus_models.PromQueryFormat.HEATMAP
