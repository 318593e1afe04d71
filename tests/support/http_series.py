"""The HTTP server series the middlewares record, read back from a registry by label set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry


def labels(route: str, status: int, method: str = "GET") -> dict[str, str]:
    """The label set of one HTTP series (plain http scheme)."""
    return {
        "http_request_method": method,
        "url_scheme": "http",
        "http_route": route,
        "http_response_status_code": str(status),
    }


def count(
    registry: CollectorRegistry, route: str, status: int, method: str = "GET"
) -> float | None:
    """``http_server_requests_total`` of one label set, or None when the series does not exist."""
    return registry.get_sample_value("http_server_requests_total", labels(route, status, method))
