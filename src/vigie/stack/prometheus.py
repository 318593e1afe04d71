"""``prometheus.yml`` for the exported stack.

The user's ``global``, ``scrape_configs`` and ``rule_files`` are Prometheus syntax already and are
kept as written; what vigie did itself is replaced by what does it in production:

- the self-monitoring job (vigie scraping its own ``/metrics``) becomes Prometheus scraping itself;
- the built-in collectors become scrape jobs of node_exporter (``node``), postgres_exporter
  (``postgres``, one target per database, labelled ``server`` as vigie's collector does) and
  cAdvisor (``cadvisor``);
- ``alerting`` points at the stack's Alertmanager (the user's scheme and timeout are kept);
- ``vigie.remote_write`` becomes ``remote_write``.

Addresses are the compose service names (``alertmanager:9093``); for Kubernetes the Helm charts
generate their own (see docs/production.md).

Example::

    >>> from vigie.stack.config import StackConfig
    >>> document = prometheus_config(StackConfig(), ["rules/a.yml"])
    >>> document["alerting"]["alertmanagers"][0]["static_configs"]
    [{'targets': ['alertmanager:9093']}]
"""

from __future__ import annotations

from typing import Any

from vigie.stack.config import StackConfig

__all__ = ["ADDRESSES", "postgres_exporter_service", "prometheus_config"]

#: Service -> ``host:port`` inside the compose network.
ADDRESSES = {
    "prometheus": "localhost:9090",
    "alertmanager": "alertmanager:9093",
    "node-exporter": "node-exporter:9100",
    "cadvisor": "cadvisor:8080",
    "loki": "loki:3100",
    "tempo": "tempo:3200",
}


def postgres_exporter_service(name: str) -> str:
    """The compose service of the postgres_exporter watching database ``name``."""
    slug = "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")
    return f"postgres-exporter-{slug or 'main'}"


def prometheus_config(config: StackConfig, rule_files: list[str]) -> dict[str, Any]:
    """The ``prometheus.yml`` document; ``rule_files`` are the exported rule file paths."""
    document: dict[str, Any] = {}
    # vigie scrapes every 15s by default where Prometheus waits 1m: say it, so nothing slows down.
    document["global"] = {"scrape_interval": "15s", **config.global_section}
    if rule_files:
        document["rule_files"] = list(rule_files)
    manager: dict[str, Any] = {"static_configs": [{"targets": [ADDRESSES["alertmanager"]]}]}
    user_managers = config.alerting.get("alertmanagers") or []
    if user_managers and isinstance(user_managers[0], dict):
        for key in ("scheme", "path_prefix", "timeout", "api_version"):
            if key in user_managers[0]:
                manager[key] = user_managers[0][key]
    document["alerting"] = {"alertmanagers": [manager]}
    jobs = [dict(job) for job in config.scrape_configs]
    names = {job["job_name"] for job in jobs}

    def add(job: dict[str, Any]) -> None:
        if job["job_name"] not in names:
            names.add(job["job_name"])
            jobs.append(job)

    if config.self_monitoring_job is not None:
        add(_static("prometheus", [ADDRESSES["prometheus"]]))
    if config.collectors.host:
        add(_static("node", [ADDRESSES["node-exporter"]]))
    if config.collectors.postgres:
        add(
            {
                "job_name": "postgres",
                "static_configs": [
                    {
                        "targets": [f"{postgres_exporter_service(target.name)}:9187"],
                        "labels": {"server": target.name},
                    }
                    for target in config.collectors.postgres
                ],
            }
        )
    if config.collectors.container:
        add(_static("cadvisor", [ADDRESSES["cadvisor"]]))
    document["scrape_configs"] = jobs
    if config.remote_write:
        document["remote_write"] = [dict(entry) for entry in config.remote_write]
    return document


def _static(job: str, targets: list[str]) -> dict[str, Any]:
    return {"job_name": job, "static_configs": [{"targets": targets}]}
