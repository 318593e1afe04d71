"""Rule packs shipped with vigie: ready rule files with runbooks."""

from vigie.rules.packs.ai import AIPackThresholds, render_ai_pack, runbook, runbook_names

__all__ = ["AIPackThresholds", "render_ai_pack", "runbook", "runbook_names"]
