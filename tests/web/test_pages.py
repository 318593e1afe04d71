"""The UI's HTML shells and assets, without a browser: what the CSP and the package need."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

import vigie.web
from vigie.server.ui import PAGES, dashboard_definition, login_page, plotly_path, render_page

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


def test_logout_button_only_with_auth() -> None:
    """With authentication on, every page offers a POST log-out form; without, none."""
    assert '<form method="post" action="/logout" class="logout">' in render_page(
        "alerts", auth=True
    )
    assert "/logout" not in render_page("alerts")


def test_login_page_has_no_script_and_escapes_next() -> None:
    """The sign-in form: no script, the target escaped, one message per failure kind."""
    page = login_page('/ui/?q="><script>')
    assert "<script" not in page
    assert 'name="next" value="/ui/?q=&quot;&gt;&lt;script&gt;"' in page
    assert '<form method="post" action="/login">' in page
    assert 'for="token"' in page
    assert 'id="token"' in page
    assert "login-error" not in page
    assert "Invalid token. Check it and try again." in login_page("/ui/", failed=True)
    limited = login_page("/ui/", retry_after=5)
    assert "Too many login attempts from this address. Wait 5 s and try again." in limited
    assert 'aria-describedby="login-error token-help"' in limited


def test_infrastructure_page_inlines_its_dashboard() -> None:
    """The Infrastructure page carries the pack's infrastructure definition and its menu key."""
    html = render_page("infrastructure")
    assert '"uid":"vigie-infrastructure"' in html
    assert 'data-name="infrastructure"' in html
    assert 'href="/ui/infrastructure" data-key="i" aria-current=page' in html
