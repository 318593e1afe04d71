"""The UI's HTML shells and assets, without a browser: what the CSP and the package need."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

import vigie.web
from vigie.server.ui import PAGES, dashboard_definition, plotly_path, render_page

STATIC = Path(vigie.web.__file__).parent / "static"


@pytest.mark.parametrize("page", [name for name, *_ in PAGES])
def test_page_shell_is_csp_clean(page: str) -> None:
    """No inline script or handler, unique ids, every asset shipped, every control labelled."""
    html = render_page(page)
    assert re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    ids = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert [name for name, count in ids.items() if count > 1] == []
    for src in re.findall(r'(?:src|href)="/ui/static/([^"]+)"', html):
        if not src.startswith("vendor/"):
            assert (STATIC / src).is_file(), src
    for control in re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', html):
        assert f'for="{control}"' in html, control
    assert f'<script src="/ui/static/js/{page}.js" defer></script>' in html


def test_dashboard_comes_from_the_rule_pack() -> None:
    """The overview draws the pack's AI dashboard, every panel with queries."""
    dashboard = dashboard_definition()
    assert dashboard["uid"] == "vigie-ai-overview"
    panels = [panel for row in dashboard["rows"] for panel in row["panels"]]
    assert len(panels) >= 15
    assert all(panel["queries"] for panel in panels)
    assert '"uid":"vigie-ai-overview"' in render_page("overview")


def test_plotly_is_served_from_the_installed_package() -> None:
    """plotly.min.js is found in the plotly package (not copied into vigie)."""
    path = plotly_path()
    assert path is not None
    assert path.name == "plotly.min.js"
    assert path.stat().st_size > 1_000_000
    assert not list(STATIC.rglob("plotly*.js"))
