"""The server configuration as typed, validated values (what :mod:`vigie.server.config` builds).

Names and defaults follow Prometheus's ``config/config.go`` for everything the two share, so a
``prometheus.yml`` reads the same way here; the vigie-only settings live in :class:`VigieSettings`
under the top-level ``vigie:`` key. Durations are integer milliseconds.

Example::

    >>> job = ScrapeConfig(job_name="app", scrape_interval_ms=15_000, scrape_timeout_ms=10_000)
    >>> job.metrics_path, job.scheme, job.honor_timestamps
    ('/metrics', 'http', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigie.notify.config import RoutingConfig
from vigie.rules.packs.ai import AIPackThresholds
from vigie.server.query_limits import QuerySettings
from vigie.server.relabel import RelabelRule
from vigie.server.security import SecuritySettings

__all__ = [
    "AIPackSettings",
    "AlertingConfig",
    "AlertingSettings",
    "AlertmanagerConfig",
    "Authorization",
    "Config",
    "ExemplarsConfig",
    "FileSDConfig",
    "GlobalConfig",
    "QualitySettings",
    "ScrapeConfig",
    "SelfMonitoringSettings",
    "StaticConfig",
    "StorageSettings",
    "TelemetrySettings",
    "VigieSettings",
]


@dataclass(frozen=True)
class StaticConfig:
    """A fixed group of targets (``host:port``) sharing extra labels."""

    targets: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FileSDConfig:
    """Target groups read from JSON or YAML files (globs allowed), re-read periodically."""

    files: tuple[str, ...]
    refresh_interval_ms: int = 300_000
    base_dir: str = "."


@dataclass(frozen=True)
class Authorization:
    """The ``Authorization`` header sent with each scrape: ``type credentials``.

    For ``basic_auth``, ``type`` is ``Basic``, ``username`` is set and the credentials are the
    password.
    """

    type: str = "Bearer"
    credentials: str | None = None
    credentials_file: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class ScrapeConfig:
    """One ``scrape_configs`` entry: a job and how to scrape its targets."""

    job_name: str
    scrape_interval_ms: int
    scrape_timeout_ms: int
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    authorization: Authorization | None = None
    honor_labels: bool = False
    honor_timestamps: bool = True
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    relabel_configs: tuple[RelabelRule, ...] = ()
    metric_relabel_configs: tuple[RelabelRule, ...] = ()
    #: Set on the self-monitoring job only, under TLS: the server's own certificate file, the
    #: only certificate that scrape trusts (see ``security.self_scrape_tls_context``). Not read
    #: from the file: Prometheus's ``tls_config`` is not supported yet.
    tls_pinned_cert: str = ""


@dataclass(frozen=True)
class AlertmanagerConfig:
    """One ``alerting.alertmanagers`` entry (static targets only)."""

    static_configs: tuple[StaticConfig, ...] = ()
    scheme: str = "http"
    path_prefix: str = "/"
    timeout_ms: int = 10_000
    api_version: str = "v2"


@dataclass(frozen=True)
class AlertingConfig:
    """The ``alerting`` section."""

    alertmanagers: tuple[AlertmanagerConfig, ...] = ()


@dataclass(frozen=True)
class GlobalConfig:
    """The ``global`` section: defaults every job inherits (scrape interval 15s, as issue 5 asks;
    Prometheus's own default is 1m)."""

    scrape_interval_ms: int = 15_000
    scrape_timeout_ms: int = 10_000
    evaluation_interval_ms: int = 60_000
    external_labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ExemplarsConfig:
    """Prometheus's top-level ``storage.exemplars``: how many exemplars the ring keeps (0: none)."""

    max_exemplars: int = 100_000


@dataclass(frozen=True)
class StorageSettings:
    """``vigie.storage``: where and how long samples are kept."""

    retention_time_ms: int = 15 * 86_400_000
    retention_size_bytes: int = 0


@dataclass(frozen=True)
class SelfMonitoringSettings:
    """``vigie.self_monitoring``: the job that scrapes the server's own ``/metrics``."""

    enabled: bool = True
    job_name: str = "vigie"
    scrape_interval_ms: int | None = None


@dataclass(frozen=True)
class TelemetrySettings:
    """``vigie.telemetry``: the OTLP traces and logs receiver (read at start-up)."""

    enabled: bool = True
    retention_time_ms: int = 7 * 86_400_000
    retention_size_bytes: int = 1 << 30
    queue_size: int = 100_000
    max_body_size_bytes: int = 16 << 20
    tail_paths: tuple[str, ...] = ()
    tail_service: str = ""
    tail_interval_ms: int = 1_000


@dataclass(frozen=True)
class AlertingSettings:
    """``vigie.alerting``: vigie's own routing of alerts (Alertmanager format) and delivery.

    ``routing`` is None when neither ``routing_file`` nor ``routing`` is given: alerts are then
    kept (API, silences) but notify nobody.
    """

    routing: RoutingConfig | None = field(default=None, compare=False)
    external_url: str = ""
    retry_initial_ms: int = 1_000
    retry_max_ms: int = 30_000
    retry_give_up_ms: int = 24 * 3_600_000


@dataclass(frozen=True)
class AIPackSettings:
    """``vigie.rule_packs.ai``: the built-in AI rule pack, rendered and evaluated when enabled.

    ``for_scale`` multiplies every ``for`` of the pack (1 keeps the documented durations; a
    test or a demo uses e.g. 0.05 to see alerts fire within seconds). ``time_scale`` compresses
    time for demos: every ``for`` *and* range window is divided by it (10: ``5m`` becomes ``30s``).
    """

    enabled: bool = False
    thresholds: AIPackThresholds = field(default_factory=AIPackThresholds)
    for_scale: float = 1.0
    time_scale: float = 1.0


@dataclass(frozen=True)
class QualitySettings:
    """``vigie.quality``: drift and quality checks run by the server."""

    enabled: bool = True
    check_interval_ms: int = 60_000


@dataclass(frozen=True)
class VigieSettings:
    """The ``vigie`` section: settings Prometheus does not have."""

    storage: StorageSettings = field(default_factory=StorageSettings)
    self_monitoring: SelfMonitoringSettings = field(default_factory=SelfMonitoringSettings)
    #: The ``vigie.collectors`` section as plain data, validated by ``vigie.server.collectors``.
    collectors: dict[str, Any] | None = None
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    alerting: AlertingSettings = field(default_factory=AlertingSettings)
    ai_pack: AIPackSettings = field(default_factory=AIPackSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    #: ``vigie.security``: authentication, TLS, CORS and limits (see vigie.server.security).
    security: SecuritySettings = field(default_factory=SecuritySettings)
    #: ``vigie.query``: PromQL limits of the HTTP API (see vigie.server.query_limits); reloadable.
    query: QuerySettings = field(default_factory=QuerySettings)


@dataclass(frozen=True)
class Config:
    """A whole configuration file, validated."""

    global_config: GlobalConfig = field(default_factory=GlobalConfig)
    scrape_configs: tuple[ScrapeConfig, ...] = ()
    rule_files: tuple[str, ...] = ()
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    vigie: VigieSettings = field(default_factory=VigieSettings)
    path: str | None = None
    #: ``storage.exemplars`` (Prometheus's key); reloadable (the ring is resized).
    exemplars: ExemplarsConfig = field(default_factory=ExemplarsConfig)
