"""The web UI: pages, their static assets and the dashboard definition, served by ``vigie server``.

Each page is a small HTML shell (``vigie/web/templates``) filled in by a vanilla JavaScript module
(``vigie/web/static/js``) that reads the server's own HTTP APIs: there is no front-end build and
no CDN. Charts are drawn by plotly.js, served from the installed ``plotly`` Python package rather
than copied into vigie. Pages carry a Content-Security-Policy without inline scripts, so every
script is a static file and no element has an inline event handler.

Example::

    routes = ui_routes(server)   # GET /ui/ (overview), /ui/alerts, /ui/explore, ...
"""

from __future__ import annotations

import dataclasses
import html
import importlib.resources
import importlib.util
import json
from functools import cache
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from vigie import __version__

if TYPE_CHECKING:
    from vigie.server.runtime import Server

__all__ = ["CONTENT_SECURITY_POLICY", "PAGES", "dashboard_definition", "plotly_path", "ui_routes"]

#: What the browser may load: only this origin, no inline script, no framing. Plotly sets inline
#: styles on the elements it draws, hence ``style-src 'unsafe-inline'``.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

#: (path segment, title, uses plotly) of each page, in menu order; the key opens it after ``g``.
PAGES: tuple[tuple[str, str, str, bool], ...] = (
    ("overview", "Overview", "o", True),
    ("alerts", "Alerts", "a", False),
    ("explore", "Explore", "e", True),
    ("traces", "Traces", "t", True),
    ("logs", "Logs", "l", False),
    ("quality", "Quality", "q", True),
    ("targets", "Targets and rules", "r", False),
)


def _web() -> Path:
    return Path(str(importlib.resources.files("vigie.web")))


def plotly_path() -> Path | None:
    """``plotly.min.js`` of the installed ``plotly`` package, or None when it is not installed."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


_FALLBACK_DASHBOARD: dict[str, Any] = {
    "title": "vigie / service overview",
    "uid": "vigie-fallback-overview",
    "refresh": "30s",
    "rows": [
        {
            "title": "HTTP",
            "panels": [
                {
                    "title": "Request rate",
                    "kind": "timeseries",
                    "unit": "reqps",
                    "description": "Requests per second handled by each service.",
                    "queries": [
                        {
                            "expr": "sum by (job) "
                            "(rate(http_server_request_duration_seconds_count[5m]))",
                            "legend": "{{job}}",
                            "instant": False,
                        }
                    ],
                    "thresholds": [],
                    "width": 12,
                    "height": 8,
                },
            ],
        }
    ],
}


def dashboard_definition() -> dict[str, Any]:
    """The overview dashboard as JSON-ready data: the rule pack's when present, else a minimal one.

    Both the UI and the Grafana export draw ``vigie.rules.packs.dashboards``; the fallback keeps
    the page working on a build without it.
    """
    try:
        from vigie.rules.packs.dashboards import ai_overview_dashboard
    except ImportError:  # pragma: no cover - the pack ships with vigie; kept for partial builds
        return _FALLBACK_DASHBOARD
    return dataclasses.asdict(ai_overview_dashboard())


@cache
def _template(name: str) -> str:
    return (_web() / "templates" / name).read_text(encoding="utf-8")


def render_page(page: str) -> str:
    """The HTML of one page: the shared shell around ``templates/<page>.html``."""
    entry = next(item for item in PAGES if item[0] == page)
    _, title, _, charts = entry
    nav = "\n".join(
        f'<li><a href="/ui/{"" if name == "overview" else name}" data-key="{key}"'
        f"{' aria-current=page' if name == page else ''}>{html.escape(label)}</a></li>"
        for name, label, key, _ in PAGES
    )
    # Deferred scripts run in this order: the page's script starts its API calls before the
    # browser has parsed plotly.js (3.5 MB), and draws once it has (see ``vigie.plotlyReady``).
    scripts = ['<script src="/ui/static/js/common.js" defer></script>']
    if charts:
        scripts.append('<script src="/ui/static/js/panels.js" defer></script>')
    scripts.append(f'<script src="/ui/static/js/{page}.js" defer></script>')
    if charts:
        scripts.append('<script src="/ui/static/vendor/plotly.min.js" defer></script>')
    content = _template(f"{page}.html")
    if page == "overview":
        # A JSON data block (never executed, so the CSP allows it) saves the page a round trip.
        data = json.dumps(dashboard_definition(), separators=(",", ":")).replace("<", "\\u003c")
        content += f'\n<script type="application/json" id="dashboard-data">{data}</script>'
    return Template(_template("base.html")).substitute(
        title=html.escape(title),
        page=page,
        nav=nav,
        content=content,
        scripts="\n".join(scripts),
        version=html.escape(__version__),
    )


def ui_routes(server: Server) -> list[BaseRoute]:
    """The UI's pages, ``/ui/api/dashboard``, plotly.js and the static assets."""

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=302)

    def page_handler(page: str) -> Any:
        async def handler(request: Request) -> Response:
            return HTMLResponse(render_page(page), headers=_HEADERS)

        return handler

    async def dashboard(request: Request) -> Response:
        body = json.dumps(dashboard_definition(), separators=(",", ":"))
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})

    async def plotly(request: Request) -> Response:
        path = plotly_path()
        if path is None:
            return Response(
                "console.error('vigie: the plotly package is not installed: pip install plotly');",
                media_type="text/javascript",
                status_code=404,
            )
        return FileResponse(
            path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    async def alerts_link(request: Request) -> Response:
        # Notifications link to <external_url>/alerts?alert=<fingerprint>.
        query = request.url.query
        return RedirectResponse("/ui/alerts" + (f"?{query}" if query else ""), status_code=302)

    async def graph_link(request: Request) -> Response:
        # Alerts' generatorURL is Prometheus's /graph?g0.expr=...&g0.tab=1 (1: table).
        params = request.query_params
        target = {
            "q": params.get("g0.expr", ""),
            "tab": "table" if params.get("g0.tab") == "1" else "graph",
        }
        return RedirectResponse("/ui/explore?" + urlencode(target), status_code=302)

    async def favicon(request: Request) -> Response:
        return FileResponse(_web() / "static" / "favicon.svg", media_type="image/svg+xml")

    routes: list[BaseRoute] = [
        Route("/", root, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/alerts", alerts_link, methods=["GET"]),
        Route("/graph", graph_link, methods=["GET"]),
        Route("/ui", root, methods=["GET"]),
        Route("/ui/api/dashboard", dashboard, methods=["GET"]),
        Route("/ui/static/vendor/plotly.min.js", plotly, methods=["GET", "HEAD"]),
        Mount(
            "/ui/static",
            app=StaticFiles(directory=_web() / "static", check_dir=False),
            name="ui-static",
        ),
        Route("/ui/", page_handler("overview"), methods=["GET"]),
    ]
    routes += [
        Route(f"/ui/{name}", page_handler(name), methods=["GET"])
        for name, *_ in PAGES
        if name != "overview"
    ]
    return routes
