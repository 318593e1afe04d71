"""Helm values for the upstream charts, for teams that run on Kubernetes.

Three files under ``kubernetes/``, one per chart, generated from the same input as the compose
stack so the two never disagree:

- ``kube-prometheus-stack.values.yml`` (prometheus-community/kube-prometheus-stack): the scrape
  jobs as ``additionalScrapeConfigs``, every rule file as ``additionalPrometheusRulesMap``
  (PrometheusRule objects), ``alertmanager.yml`` as ``alertmanager.config``, the dashboards and the
  Loki and Tempo datasources for the bundled Grafana, retention and remote write;
- ``loki.values.yml`` (grafana/loki): single binary, filesystem storage (object storage for scale,
  see docs/production.md);
- ``tempo.values.yml`` (grafana/tempo): OTLP receivers, retention.

The Grafana admin password is never in the values: it is read from the Kubernetes Secret
``vigie-grafana-admin`` (keys ``admin-user``, ``admin-password``), which you create.

Example::

    >>> from vigie.stack.config import StackConfig
    >>> values = kube_prometheus_stack_values(StackConfig(), {}, {"route": {"receiver": "x"}}, {})
    >>> values["grafana"]["admin"]["existingSecret"]
    'vigie-grafana-admin'
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import yaml

from vigie.stack.config import StackConfig

__all__ = ["kube_prometheus_stack_values", "loki_values", "tempo_values"]


def kube_prometheus_stack_values(
    config: StackConfig,
    rule_files: dict[str, str],
    alertmanager: dict[str, Any],
    dashboards: dict[str, str],
) -> dict[str, Any]:
    """Values of kube-prometheus-stack; ``dashboards`` maps uid -> dashboard JSON text."""
    spec: dict[str, Any] = {
        "retention": config.retention_time,
        "ruleSelectorNilUsesHelmValues": False,
        "additionalScrapeConfigs": [dict(job) for job in config.scrape_configs],
    }
    if config.global_section.get("scrape_interval"):
        spec["scrapeInterval"] = config.global_section["scrape_interval"]
    if config.global_section.get("evaluation_interval"):
        spec["evaluationInterval"] = config.global_section["evaluation_interval"]
    if config.global_section.get("external_labels"):
        spec["externalLabels"] = dict(config.global_section["external_labels"])
    if config.remote_write:
        spec["remoteWrite"] = [_camel(entry) for entry in config.remote_write]
    rules = {
        PurePosixPath(path).name.removesuffix(".yml").replace(".", "-"): {
            "groups": (yaml.safe_load(text) or {}).get("groups") or []
        }
        for path, text in rule_files.items()
    }
    return {
        "prometheus": {"prometheusSpec": spec},
        "additionalPrometheusRulesMap": rules,
        "defaultRules": {"create": True},
        "alertmanager": {"config": alertmanager},
        "nodeExporter": {"enabled": config.collectors.host},
        "grafana": {
            "admin": {
                "existingSecret": "vigie-grafana-admin",
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "additionalDataSources": [
                {
                    "name": "Loki",
                    "type": "loki",
                    "uid": "loki",
                    "url": "http://loki-gateway.monitoring.svc",
                },
                {
                    "name": "Tempo",
                    "type": "tempo",
                    "uid": "tempo",
                    "url": "http://tempo.monitoring.svc:3100",
                },
            ],
            "dashboardProviders": {
                "vigie.yaml": {
                    "apiVersion": 1,
                    "providers": [
                        {
                            "name": "vigie",
                            "folder": "vigie",
                            "type": "file",
                            "disableDeletion": True,
                            "options": {"path": "/var/lib/grafana/dashboards/vigie"},
                        }
                    ],
                }
            },
            "dashboards": {"vigie": {uid: {"json": text} for uid, text in dashboards.items()}},
        },
    }


def loki_values() -> dict[str, Any]:
    """Values of grafana/loki: one replica, filesystem storage, 30-day retention."""
    return {
        "deploymentMode": "SingleBinary",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2024-01-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": "720h"},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        "singleBinary": {"replicas": 1, "persistence": {"size": "20Gi"}},
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
    }


def tempo_values() -> dict[str, Any]:
    """Values of grafana/tempo: OTLP over gRPC and HTTP, 14-day retention, persistent volume."""
    return {
        "tempo": {
            "retention": "336h",
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": "0.0.0.0:4317"},
                        "http": {"endpoint": "0.0.0.0:4318"},
                    }
                }
            },
        },
        "persistence": {"enabled": True, "size": "20Gi"},
    }


def _camel(entry: dict[str, Any]) -> dict[str, Any]:
    """Prometheus's snake_case remote_write keys as the operator's camelCase."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        head, *rest = key.split("_")
        name = head + "".join(part.title() for part in rest)
        out[name] = _camel(value) if isinstance(value, dict) else value
    return out
