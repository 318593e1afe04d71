"""``vigie server``: run the embedded monitoring server in the foreground.

Defaults: data in ``./vigie-data``; the config ``vigie.yml`` next to the data directory if it
exists; listening on ``127.0.0.1:9800``. Port 9800 is taken by none of Prometheus (9090),
Alertmanager (9093), Grafana (3000) or node exporter (9100), so vigie can run beside a Prometheus
stack; loopback by default so nothing is exposed until you ask for it.

Example::

    $ vigie server --config vigie.yml --data-dir /var/lib/vigie --listen 0.0.0.0:9800
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vigie.exceptions import ConfigurationError

__all__ = ["parse_listen", "register"]

DEFAULT_DATA_DIR = "vigie-data"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie server``."""
    parser = subparsers.add_parser(
        "server",
        help="run the embedded server (scraping, storage, Prometheus API)",
        description="Run the vigie server in the foreground until SIGTERM or Ctrl-C.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (Prometheus syntax); default: vigie.yml next to the data "
        "directory, if it exists",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", default=DEFAULT_DATA_DIR,
        help=f"where samples are stored (default: ./{DEFAULT_DATA_DIR})",
    )  # fmt: skip
    parser.add_argument(
        "--listen", metavar="HOST:PORT", default="127.0.0.1:9800",
        help="address to serve HTTP on (default: 127.0.0.1:9800)",
    )  # fmt: skip
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: info)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9800`` for IPv6, ``:9800`` for all interfaces) as a pair."""
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"expected HOST:PORT, got {text!r}", field="--listen")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def default_config(data_dir: Path) -> Path | None:
    """``vigie.yml`` beside the data directory, when it exists."""
    candidate = data_dir.resolve().parent / "vigie.yml"
    return candidate if candidate.is_file() else None


def run(arguments: argparse.Namespace) -> int:
    """Start the server; returns its exit code."""
    from vigie.server.runtime import Server, ServerOptions

    logging.basicConfig(
        level=arguments.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per scrape request would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    data_dir = Path(arguments.data_dir)
    config_path = Path(arguments.config) if arguments.config else default_config(data_dir)
    host, port = parse_listen(arguments.listen)
    options = ServerOptions(data_dir=data_dir, config_path=config_path, host=host, port=port)
    server = Server(options)
    from vigie.server.security import check_listen_address  # refuse before saying "listening"

    check_listen_address(server.config.vigie.security, host)
    logging.getLogger("vigie.server").info(
        "vigie server listening on http://%s:%d (data: %s, config: %s)",
        host, port, data_dir, config_path or "none",
    )  # fmt: skip
    return server.run()
