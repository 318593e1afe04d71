"""The container images of the exported stack, pinned to exact versions.

Pinned tags make an export reproducible: the same ``docker-compose.yml`` starts the same software
next month. Upgrading is a deliberate change of this table (and of the export in git).

Example::

    >>> IMAGES["prometheus"]
    'prom/prometheus:v2.53.3'
"""

from __future__ import annotations

__all__ = ["IMAGES"]

#: Service name -> image with an exact version tag (LTS lines where the project has one).
IMAGES: dict[str, str] = {
    "prometheus": "prom/prometheus:v2.53.3",
    "alertmanager": "prom/alertmanager:v0.27.0",
    "grafana": "grafana/grafana:11.3.1",
    "loki": "grafana/loki:3.3.1",
    "alloy": "grafana/alloy:v1.5.0",
    "promtail": "grafana/promtail:3.3.1",
    "tempo": "grafana/tempo:2.6.1",
    "otel-collector": "otel/opentelemetry-collector-contrib:0.114.0",
    "node-exporter": "prom/node-exporter:v1.8.2",
    "postgres-exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.16.0",
    "cadvisor": "gcr.io/cadvisor/cadvisor:v0.49.1",
}
