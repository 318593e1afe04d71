"""Tempo, and optionally an OpenTelemetry Collector in front of it, for traces.

Apps keep sending OTLP exactly as they send it to vigie (same SDK settings, only the endpoint
changes): to Tempo's OTLP receiver directly, or to a collector that batches, drops health-check
spans' noise with memory limits and forwards to Tempo (``vigie.stack.traces: otel-collector``).

Example::

    >>> sorted(tempo_config()["distributor"]["receivers"]["otlp"]["protocols"])
    ['grpc', 'http']
    >>> otel_collector_config()["service"]["pipelines"]["traces"]["exporters"]
    ['otlp/tempo']
"""

from __future__ import annotations

from typing import Any

__all__ = ["otel_collector_config", "tempo_config"]


def tempo_config() -> dict[str, Any]:
    """``tempo/tempo.yml``: single binary, local storage, 14-day retention, span metrics off."""
    return {
        "stream_over_http_enabled": True,
        "server": {"http_listen_port": 3200, "log_level": "warn"},
        "distributor": {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": "0.0.0.0:4317"},
                        "http": {"endpoint": "0.0.0.0:4318"},
                    }
                }
            }
        },
        "compactor": {"compaction": {"block_retention": "336h"}},
        "storage": {
            "trace": {
                "backend": "local",
                "wal": {"path": "/var/tempo/wal"},
                "local": {"path": "/var/tempo/blocks"},
            }
        },
        "usage_report": {"reporting_enabled": False},
    }


def otel_collector_config() -> dict[str, Any]:
    """``otel-collector/config.yml``: OTLP in, memory-limited batches out to Tempo."""
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": "0.0.0.0:4317"},
                    "http": {"endpoint": "0.0.0.0:4318"},
                }
            }
        },
        "processors": {
            "memory_limiter": {
                "check_interval": "1s",
                "limit_percentage": 80,
                "spike_limit_percentage": 20,
            },
            "batch": {},
        },
        "exporters": {"otlp/tempo": {"endpoint": "tempo:4317", "tls": {"insecure": True}}},
        "extensions": {"health_check": {"endpoint": "0.0.0.0:13133"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "batch"],
                    "exporters": ["otlp/tempo"],
                }
            },
        },
    }
