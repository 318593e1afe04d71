"""The server's own alert routing and quality checks: built from the config, run in the process.

A :class:`~vigie.notify.NotificationService` always runs (state in ``<data-dir>/notify``): with
``vigie.alerting.routing`` or ``routing_file`` it notifies the configured receivers; without, it
routes everything to a receiver with no integration, so ``/api/v2/alerts`` and the silences still
work (as an Alertmanager with an empty receiver would). The quality service checks drift every
``vigie.quality.check_interval`` and writes its series through the store's appender.

Example::

    service = open_notifications(Path("vigie-data"), config, "http://127.0.0.1:9800")
    service.start()
    service.reload(routing_config(new_config))   # on SIGHUP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from vigie.notify.config import RoutingConfig, parse_routing_config
from vigie.notify.outbox import RetryPolicy
from vigie.notify.service import NotificationService
from vigie.quality.service import QualityService
from vigie.server.config_model import Config
from vigie.store.interface import Storage

__all__ = [
    "NOTIFY_DIR",
    "NULL_RECEIVER",
    "open_notifications",
    "open_quality",
    "routing_config",
    "run_quality_checks",
]

logger = logging.getLogger("vigie.server")

NOTIFY_DIR = "notify"
#: The receiver of every alert when no routing is configured: it has no integration.
NULL_RECEIVER = "vigie-null"


def routing_config(config: Config) -> RoutingConfig:
    """The configured routing, or one sending everything to :data:`NULL_RECEIVER`."""
    routing = config.vigie.alerting.routing
    if routing is not None:
        return routing
    return parse_routing_config(
        f"route: {{receiver: {NULL_RECEIVER}}}\nreceivers: [{{name: {NULL_RECEIVER}}}]\n",
        source="<no vigie.alerting.routing>",
    )


def open_notifications(data_dir: Path, config: Config, external_url: str) -> NotificationService:
    """The notification service of ``config`` (not started), its state under ``data_dir``."""
    settings = config.vigie.alerting
    policy = RetryPolicy(
        base=timedelta(milliseconds=settings.retry_initial_ms),
        cap=timedelta(milliseconds=settings.retry_max_ms),
        max_age=timedelta(milliseconds=settings.retry_give_up_ms),
    )
    return NotificationService(
        routing_config(config),
        data_dir=data_dir / NOTIFY_DIR,
        retry_policy=policy,
        external_url=external_url,
        ui_url=external_url,
    )


def open_quality(data_dir: Path, storage: Storage) -> QualityService:
    """The quality service, its state under ``data_dir/quality``."""
    return QualityService(data_dir, storage.appender)


async def run_quality_checks(service: QualityService, interval: Callable[[], float]) -> None:
    """Check every ``interval()`` seconds (asked each round, so a reload applies)."""
    while True:
        await asyncio.sleep(interval())
        try:
            await asyncio.to_thread(service.run_checks)
        except Exception:  # keep the loop alive; the next round retries
            logger.exception("quality checks failed")
