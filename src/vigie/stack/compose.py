"""``docker-compose.yml`` for the exported stack.

Every service has a pinned image (:data:`vigie.stack.images.IMAGES`), a health check, CPU and
memory limits, a restart policy and a named volume for its data; ports are published on
127.0.0.1 only (put a TLS proxy in front to expose Grafana). No password has a default: Grafana's
comes from ``.env`` (generated), a database password must be filled in by the user, and
``${NAME:?message}`` stops ``docker compose up`` if one is missing.

Example::

    >>> from vigie.stack.config import StackConfig
    >>> document, env = compose_file(StackConfig())
    >>> sorted(document["services"])[:3], env
    (['alertmanager', 'grafana', 'loki'], {'GRAFANA_ADMIN_PASSWORD': None})
"""

from __future__ import annotations

from typing import Any

from vigie.stack.config import StackConfig
from vigie.stack.images import IMAGES
from vigie.stack.prometheus import postgres_exporter_service

__all__ = ["compose_file", "postgres_password_variable"]


def postgres_password_variable(name: str) -> str:
    """The ``.env`` name holding the password of database ``name``."""
    slug = "".join(char if char.isalnum() else "_" for char in name.upper())
    return f"POSTGRES_PASSWORD_{slug}"


def _wget(url: str) -> list[str]:
    return ["CMD", "wget", "-q", "-O", "/dev/null", url]


def _service(
    image: str,
    *,
    health: list[str],
    cpus: str,
    memory: str,
    volumes: list[str] | None = None,
    ports: list[str] | None = None,
    command: list[str] | None = None,
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    service: dict[str, Any] = {"image": IMAGES[image], "restart": "unless-stopped"}
    if command:
        service["command"] = command
    if environment:
        service["environment"] = environment
    if ports:
        service["ports"] = ports
    if volumes:
        service["volumes"] = volumes
    service["healthcheck"] = {
        "test": health,
        "interval": "30s",
        "timeout": "5s",
        "retries": 3,
        "start_period": "30s",
    }
    service["deploy"] = {"resources": {"limits": {"cpus": cpus, "memory": memory}}}
    return service


def compose_file(config: StackConfig) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The compose document and the ``.env`` entries it needs (None: generate a secret)."""
    env: dict[str, str | None] = {"GRAFANA_ADMIN_PASSWORD": None}
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    services["prometheus"] = _service(
        "prometheus",
        command=[
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.retention.time={config.retention_time}",
            f"--web.external-url={config.stack.prometheus_url}",
        ],
        volumes=[
            "./prometheus.yml:/etc/prometheus/prometheus.yml:ro",
            "./rules:/etc/prometheus/rules:ro",
            "prometheus-data:/prometheus",
        ],
        ports=["127.0.0.1:9090:9090"],
        health=_wget("http://localhost:9090/-/healthy"),
        cpus="1.0",
        memory="2g",
    )
    services["prometheus"]["extra_hosts"] = ["host.docker.internal:host-gateway"]
    services["alertmanager"] = _service(
        "alertmanager",
        command=[
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/alertmanager",
        ],
        volumes=[
            "./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro",
            "alertmanager-data:/alertmanager",
        ],
        ports=["127.0.0.1:9093:9093"],
        health=_wget("http://localhost:9093/-/healthy"),
        cpus="0.25",
        memory="256m",
    )
    services["grafana"] = _service(
        "grafana",
        environment={
            "GF_SECURITY_ADMIN_USER": "admin",
            "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD:?set it in .env}",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            "GF_SERVER_ROOT_URL": config.stack.grafana_url,
        },
        volumes=[
            "./grafana/provisioning:/etc/grafana/provisioning:ro",
            "./grafana/dashboards:/var/lib/grafana/dashboards:ro",
            "grafana-data:/var/lib/grafana",
        ],
        ports=["127.0.0.1:3000:3000"],
        health=_wget("http://localhost:3000/api/health"),
        cpus="0.5",
        memory="512m",
    )
    services["loki"] = _service(
        "loki",
        command=["-config.file=/etc/loki/loki.yml"],
        volumes=["./loki/loki.yml:/etc/loki/loki.yml:ro", "loki-data:/loki"],
        ports=["127.0.0.1:3100:3100"],
        health=_wget("http://localhost:3100/ready"),
        cpus="0.5",
        memory="1g",
    )
    services["tempo"] = _service(
        "tempo",
        command=["-config.file=/etc/tempo/tempo.yml"],
        volumes=["./tempo/tempo.yml:/etc/tempo/tempo.yml:ro", "tempo-data:/var/tempo"],
        ports=["127.0.0.1:3200:3200"]
        + (
            []
            if config.stack.traces == "otel-collector"
            else ["127.0.0.1:4317:4317", "127.0.0.1:4318:4318"]
        ),
        health=_wget("http://localhost:3200/ready"),
        cpus="0.5",
        memory="1g",
    )
    volumes.update(
        {
            name: {}
            for name in (
                "prometheus-data",
                "alertmanager-data",
                "grafana-data",
                "loki-data",
                "tempo-data",
            )
        }
    )
    if config.stack.traces == "otel-collector":
        services["otel-collector"] = _service(
            "otel-collector",
            command=["--config=/etc/otelcol/config.yml"],
            volumes=["./otel-collector/config.yml:/etc/otelcol/config.yml:ro"],
            ports=["127.0.0.1:4317:4317", "127.0.0.1:4318:4318"],
            health=_wget("http://localhost:13133/"),
            cpus="0.5",
            memory="512m",
        )
    if config.stack.log_files:
        folders = sorted({path.rsplit("/", 1)[0] or "/" for path in config.stack.log_files})
        mounts = [f"{folder}:{folder}:ro" for folder in folders]
        if config.stack.log_agent == "alloy":
            services["alloy"] = _service(
                "alloy",
                command=["run", "--storage.path=/var/lib/alloy", "/etc/alloy/config.alloy"],
                volumes=[
                    "./alloy/config.alloy:/etc/alloy/config.alloy:ro",
                    "alloy-data:/var/lib/alloy",
                    *mounts,
                ],
                health=_wget("http://localhost:12345/-/ready"),
                cpus="0.25",
                memory="256m",
            )
            volumes["alloy-data"] = {}
        else:
            services["promtail"] = _service(
                "promtail",
                command=["-config.file=/etc/promtail/promtail.yml"],
                volumes=[
                    "./promtail/promtail.yml:/etc/promtail/promtail.yml:ro",
                    "promtail-data:/var/lib/promtail",
                    *mounts,
                ],
                health=_wget("http://localhost:9080/ready"),
                cpus="0.25",
                memory="256m",
            )
            volumes["promtail-data"] = {}
    if config.collectors.host:
        services["node-exporter"] = _service(
            "node-exporter",
            command=["--path.rootfs=/host"],
            volumes=["/:/host:ro,rslave"],
            health=_wget("http://localhost:9100/metrics"),
            cpus="0.25",
            memory="128m",
        )
        services["node-exporter"]["pid"] = "host"
    for target in config.collectors.postgres:
        variable = postgres_password_variable(target.name)
        env[variable] = ""
        services[postgres_exporter_service(target.name)] = _service(
            "postgres-exporter",
            environment={
                "DATA_SOURCE_URI": _without_scheme(target.url),
                "DATA_SOURCE_USER": _user(target.url),
                "DATA_SOURCE_PASS": f"${{{variable}:?set the password of {target.name} in .env}}",
            },
            health=_wget("http://localhost:9187/metrics"),
            cpus="0.25",
            memory="128m",
        )
    if config.collectors.container:
        services["cadvisor"] = _service(
            "cadvisor",
            volumes=[
                "/:/rootfs:ro",
                "/var/run:/var/run:ro",
                "/sys:/sys:ro",
                "/var/lib/docker/:/var/lib/docker:ro",
            ],
            health=_wget("http://localhost:8080/healthz"),
            cpus="0.5",
            memory="256m",
        )
    return {"name": "vigie", "services": services, "volumes": volumes}, env


def _without_scheme(url: str) -> str:
    """``postgresql://user@host:5432/db?x=y`` -> ``host:5432/db?x=y`` (postgres_exporter's URI)."""
    rest = url.split("://", 1)[-1]
    return rest.split("@", 1)[-1]


def _user(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("@", 1)[0] if "@" in rest else "postgres"
