"""Deterministic YAML and JSON text for exported files: same data, same bytes.

Every exported file goes through these two functions, so the output can live in git and
``vigie stack export --check`` can compare it byte for byte. Keys keep the order the exporter
builds them in (Prometheus and Alertmanager users read ``global`` before ``scrape_configs``);
multi-line strings (PromQL, templates) are written as literal blocks.

Example::

    >>> data = {"groups": [{"name": "a", "expr": "up\\n== 0"}]}
    >>> print(to_yaml(data, header="made by vigie"), end="")
    # made by vigie
    groups:
    - name: a
      expr: |-
        up
        == 0
"""

from __future__ import annotations

import json
from typing import Any

import yaml

__all__ = ["to_json", "to_yaml"]


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings as literal blocks and never using aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def to_yaml(data: Any, *, header: str = "") -> str:
    """``data`` as YAML text, preceded by ``header`` as ``#`` comment lines."""
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return comments + body


def to_json(data: Any) -> str:
    """``data`` as indented JSON with sorted keys and a final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
