"""Production export: the vigie configuration as a Prometheus, Alertmanager, Grafana, Loki and
Tempo stack (``vigie stack export``; see docs/production.md)."""

from vigie.stack.config import StackConfig, load_stack_config, parse_stack_config
from vigie.stack.export import Drift, Stack, build_stack, stack_drift, write_stack

__all__ = [
    "Drift",
    "Stack",
    "StackConfig",
    "build_stack",
    "load_stack_config",
    "parse_stack_config",
    "stack_drift",
    "write_stack",
]
