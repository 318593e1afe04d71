"""The web UI: pages, their static assets and the dashboard definition, served by ``vigie server``.

Each page is a small HTML shell (``vigie/web/templates``) filled in by a vanilla JavaScript module
(``vigie/web/static/js``) that reads the server's own HTTP APIs: there is no front-end build and
no CDN. Charts are drawn by plotly.js, served from the installed ``plotly`` Python package rather
than copied into vigie. Pages carry a Content-Security-Policy without inline scripts, so every
script is a static file and no element has an inline event handler.

Example::

    routes = ui_routes(server)   # GET /ui/ (overview), /ui/infrastructure, /ui/alerts, ...
    html = render_page("infrastructure", auth=True)  # with a "Log out" button
"""

from __future__ import annotations

import asyncio
import html
import importlib.resources
import importlib.util
import json
import time
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
from vigie.server.dashboards import DashboardData, dashboard_definition

if TYPE_CHECKING:
    from vigie.server.runtime import Server

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DASHBOARD_PAGES",
    "PAGES",
    "dashboard_definition",
    "login_page",
    "plotly_path",
    "render_page",
    "ui_routes",
]

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

#: Pages that draw a dashboard of ``vigie.rules.packs.dashboards``: page -> dashboard name.
DASHBOARD_PAGES = {"overview": "overview", "infrastructure": "infrastructure"}

#: (path segment, title, key, uses plotly) of each page, in menu order; ``g`` + key opens it.
PAGES: tuple[tuple[str, str, str, bool], ...] = (
    ("overview", "Overview", "o", True),
    ("infrastructure", "Infrastructure", "i", True),
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


@cache
def _template(name: str) -> str:
    return (_web() / "templates" / name).read_text(encoding="utf-8")


def render_page(page: str, *, auth: bool = False) -> str:
    """The HTML of one page: the shared shell around ``templates/<page>.html``.

    With ``auth`` the menu offers a "Log out" button (a POST form: a link could be followed by
    another site to log the user out).
    """
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
    if page in DASHBOARD_PAGES:
        scripts.append('<script src="/ui/static/js/dashboard.js" defer></script>')
    scripts.append(f'<script src="/ui/static/js/{page}.js" defer></script>')
    if charts:
        scripts.append('<script src="/ui/static/vendor/plotly.min.js" defer></script>')
    content = _template(f"{page}.html")
    if page in DASHBOARD_PAGES:
        content = content.replace(
            "<!-- dashboard-controls -->\n", _template("dashboard_controls.html")
        )
        # A JSON data block (never executed, so the CSP allows it) saves the page a round trip.
        definition = dashboard_definition(DASHBOARD_PAGES[page])
        data = json.dumps(definition, separators=(",", ":")).replace("<", "\\u003c")
        content += (
            f'\n<script type="application/json" id="dashboard-data" '
            f'data-name="{DASHBOARD_PAGES[page]}">{data}</script>'
        )
    logout = (
        '<form method="post" action="/logout" class="logout">'
        '<button type="submit" id="logout">Log out</button></form>'
        if auth
        else ""
    )
    return Template(_template("base.html")).substitute(
        title=html.escape(title),
        page=page,
        nav=nav,
        content=content,
        scripts="\n".join(scripts),
        logout=logout,
        version=html.escape(__version__),
    )


def login_page(next_path: str, *, failed: bool = False, retry_after: int = 0) -> str:
    """The sign-in form (no script: the CSP holds); ``next_path`` is where to go after it.

    A failed attempt says only that the token is invalid; a client over the login rate limit
    (``vigie.security.limits.login_rate``) is told how long to wait.
    """
    if retry_after:
        message = (
            '<p class="error-text" role="alert" id="login-error">Too many login attempts from '
            f"this address. Wait {retry_after} s and try again.</p>"
        )
    elif failed:
        message = (
            '<p class="error-text" role="alert" id="login-error">Invalid token. Check it and '
            "try again.</p>"
        )
    else:
        message = ""
    return Template(_template("login.html")).substitute(
        message=message,
        next=html.escape(next_path, quote=True),
        described="login-error token-help" if message else "token-help",
        version=html.escape(__version__),
    )


def _json_error(status: int, kind: str, message: str) -> Response:
    body = json.dumps({"status": "error", "errorType": kind, "error": message})
    return Response(body, status_code=status, media_type="application/json")


def ui_routes(server: Server) -> list[BaseRoute]:
    """The UI's pages, the dashboard APIs, plotly.js and the static assets.

    ``GET /ui/api/dashboard/<name>`` is a dashboard's definition (``/ui/api/dashboard``: the
    overview's), ``GET /ui/api/dashboard/<name>/data`` all its panels' data at once (see
    :mod:`vigie.server.dashboards`).
    """
    from vigie.server.security import auth_enabled

    boards = DashboardData(server)
    # A dashboard evaluates dozens of queries: two at a time keep the API answering others.
    evaluations = asyncio.Semaphore(2)

    def auth_on() -> bool:
        return auth_enabled(server.config.vigie.security, server.options.host)

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=302)

    def page_handler(page: str) -> Any:
        async def handler(request: Request) -> Response:
            return HTMLResponse(render_page(page, auth=auth_on()), headers=_HEADERS)

        return handler

    async def dashboard(request: Request) -> Response:
        name = request.path_params.get("name", "overview")
        try:
            definition = dashboard_definition(name)
        except KeyError:
            return _json_error(404, "not_found", f"no dashboard named {name!r}")
        body = json.dumps(definition, separators=(",", ":"))
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})

    async def dashboard_data(request: Request) -> Response:
        name = request.path_params["name"]
        params = request.query_params
        try:
            dashboard_definition(name)
        except KeyError:
            return _json_error(404, "not_found", f"no dashboard named {name!r}")
        try:
            end = int(float(params.get("end") or time.time()))
            range_s = int(float(params.get("range") or 3600))
            width = int(float(params.get("width") or 1200))
        except ValueError:
            return _json_error(400, "bad_data", "end, range and width must be numbers")
        if not (60 <= range_s <= 31 * 86400 and 100 <= width <= 20_000):
            return _json_error(400, "bad_data", "range must be 60 s to 31 d, width 100 to 20000")
        if not server.ready or server.storage is None:
            return _json_error(503, "unavailable", "Service Unavailable")
        options: dict[str, Any] = {
            "end_s": end,
            "range_s": range_s,
            "width_px": width,
            "extra": tuple(params.getlist("extra")),
            "fresh": params.get("fresh") == "1",
        }
        async with evaluations:
            data = await asyncio.to_thread(boards.evaluate, name, **options)
        body = json.dumps({"status": "success", "data": data}, separators=(",", ":"))
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    async def login(request: Request) -> Response:
        # Reached only with auth off (the security middleware answers /login when it is on).
        target = request.query_params.get("next", "/ui/")
        safe = target.startswith("/") and not target.startswith("//") and "\\" not in target
        return RedirectResponse(target if safe else "/ui/", status_code=302)

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
        Route("/login", login, methods=["GET"]),
        Route("/ui/api/dashboard", dashboard, methods=["GET"]),
        Route("/ui/api/dashboard/{name}", dashboard, methods=["GET"]),
        Route("/ui/api/dashboard/{name}/data", dashboard_data, methods=["GET"]),
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
