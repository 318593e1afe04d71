"""The rule files of the exported stack: the user's, validated and copied, and the AI pack.

Prometheus reads rule files relative to ``prometheus.yml``, so they are exported under ``rules/``
beside it, and the same folder is mounted into the container. Every file is checked with
:func:`vigie.rules.rule_file.check_rule_file` first: an export never ships a file Prometheus would
refuse at start-up.

Example::

    >>> from vigie.stack.config import StackConfig
    >>> sorted(export_rule_files(StackConfig(ai_pack=True)))
    ['rules/vigie-ai.rules.yml']
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

from vigie.exceptions import ConfigurationError
from vigie.rules.packs.ai import AIPackThresholds, render_ai_pack
from vigie.rules.rule_file import check_rule_file, parse_rule_text
from vigie.stack.config import StackConfig

__all__ = ["AI_PACK_FILE", "export_rule_files"]

AI_PACK_FILE = "rules/vigie-ai.rules.yml"


def export_rule_files(config: StackConfig) -> dict[str, str]:
    """Exported path -> text of every rule file, sorted by path."""
    files: dict[str, str] = {}
    for pattern in config.rule_files:
        full = pattern if Path(pattern).is_absolute() else str(config.base_dir / pattern)
        matches = sorted(glob.glob(full))
        if not matches and not glob.has_magic(pattern):
            raise ConfigurationError(f"rule file {full} not found", path=config.source,
                                     field="rule_files")  # fmt: skip
        for match in matches:
            _, errors = check_rule_file(match)
            if errors:
                raise ConfigurationError(
                    "invalid rule file: " + "; ".join(str(error) for error in errors),
                    path=config.source,
                    field="rule_files",
                )
            name = f"rules/{Path(match).name}"
            if name in files or name == AI_PACK_FILE:
                raise ConfigurationError(
                    f"two rule files named {Path(match).name!r}: rename one",
                    path=config.source, field="rule_files",
                )  # fmt: skip
            files[name] = Path(match).read_text(encoding="utf-8")
    if config.ai_pack:
        thresholds = config.ai_thresholds
        default_url = AIPackThresholds().runbook_base_url
        if config.stack.runbook_url and thresholds.runbook_base_url == default_url:
            thresholds = dataclasses.replace(thresholds, runbook_base_url=config.stack.runbook_url)
        text = render_ai_pack(thresholds)
        _, errors = parse_rule_text(text, AI_PACK_FILE)
        if errors:  # pragma: no cover - the pack is tested; thresholds cannot break its syntax
            raise ConfigurationError(str(errors[0]), path=config.source, field="vigie.rule_packs")
        files[AI_PACK_FILE] = text
    return dict(sorted(files.items()))
