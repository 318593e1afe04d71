"""The checks ``vigie doctor --server URL`` runs on a vigie server or a Prometheus.

They read the Prometheus HTTP API both speak (``/api/v1/targets``, ``/api/v1/rules``,
``/api/v1/alerts``) and report what needs a human: targets down with their last scrape error,
rules whose evaluation fails with the error, alerts firing, and notification receivers failing
(``/api/v1/notifications``, a vigie endpoint; reported as not available when the server does not
have it, as Prometheus does not).

Example::

    import httpx
    from vigie.cli._doctor_server import check_server

    with httpx.Client(timeout=5) as client:
        findings = check_server(client, "http://127.0.0.1:9090")
"""

from __future__ import annotations

from typing import Any

import httpx

from vigie.cli._doctor_findings import Finding, Severity
from vigie.cli._server_access import ServerAccess, connection_hint, refusal_hint

__all__ = ["CRITICAL_SEVERITIES", "check_server"]

#: Values of an alert's ``severity`` label that make a firing alert an error rather than a warning.
CRITICAL_SEVERITIES = frozenset({"critical", "page", "error"})


class _ApiUnavailableError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def check_server(
    client: httpx.Client, url: str, *, access: ServerAccess | None = None
) -> list[Finding]:
    """Targets, rules, alerts and receivers of the server at ``url``.

    ``client`` carries the token and TLS settings of ``access`` (only used to word advice).
    """
    base = url.rstrip("/")
    try:
        targets = _data(client, base + "/api/v1/targets")
    except httpx.HTTPError as error:
        advice = connection_hint(error).strip(" ()")
        return [
            Finding(
                "server",
                Severity.ERROR,
                f"{base} is not reachable: {type(error).__name__}",
                advice or "start `vigie server` (or Prometheus), or check --server",
            )
        ]
    except _ApiUnavailableError as refused:
        hint = refusal_hint(refused.status, access or ServerAccess())
        if hint is None:
            return _not_an_api(base)
        reason, _, advice = hint.partition(": ")
        return [Finding("server", Severity.ERROR, f"{base}: {reason}", advice)]
    except ValueError:
        return _not_an_api(base)
    findings = _targets(targets)
    findings += _section(client, base, "rules", _rules)
    findings += _section(client, base, "alerts", _alerts)
    findings += _notifications(client, base)
    return findings


def _not_an_api(base: str) -> list[Finding]:
    return [
        Finding(
            "server",
            Severity.ERROR,
            f"{base}/api/v1/targets is not a Prometheus API",
            "--server takes the base URL of a vigie server or a Prometheus",
        )
    ]


def _data(client: httpx.Client, url: str) -> Any:
    response = client.get(url)
    if response.status_code != 200:
        raise _ApiUnavailableError(response.status_code)
    document = response.json()
    if not isinstance(document, dict) or document.get("status") != "success":
        raise ValueError("not a Prometheus API envelope")
    return document.get("data")


def _section(client: httpx.Client, base: str, name: str, read: Any) -> list[Finding]:
    try:
        data = _data(client, f"{base}/api/v1/{name}")
    except (httpx.HTTPError, _ApiUnavailableError, ValueError) as error:
        return [
            Finding(
                f"server.{name}",
                Severity.WARNING,
                f"/api/v1/{name} could not be read: {error!r}",
                "check the server's logs",
            )
        ]
    findings: list[Finding] = read(data)
    return findings


def _targets(data: Any) -> list[Finding]:
    active = list((data or {}).get("activeTargets") or [])
    findings: list[Finding] = []
    down = 0
    for target in active:
        health = target.get("health")
        labels = target.get("labels") or {}
        job = labels.get("job") or target.get("scrapePool", "?")
        where = target.get("scrapeUrl") or labels.get("instance", "?")
        details = {
            "job": job,
            "scrape_url": where,
            "health": health,
            "last_error": target.get("lastError", ""),
        }
        if health == "down":
            down += 1
            findings.append(
                Finding(
                    "server.targets",
                    Severity.ERROR,
                    f"target {where} (job {job}) is down: {target.get('lastError') or 'no error'}",
                    "start the app or fix its address in the scrape configuration",
                    details,
                )
            )
        elif health != "up":
            findings.append(
                Finding(
                    "server.targets",
                    Severity.INFO,
                    f"target {where} (job {job}) not scraped yet",
                    "",
                    details,
                )
            )
    up = sum(1 for target in active if target.get("health") == "up")
    if not active:
        findings.append(
            Finding(
                "server.targets",
                Severity.WARNING,
                "no scrape targets configured",
                "add a scrape job for the app (scrape_configs)",
            )
        )
    elif not down:
        findings.insert(0, Finding("server.targets", Severity.OK, f"{up} of {len(active)} up"))
    return findings


def _rules(data: Any) -> list[Finding]:
    groups = list((data or {}).get("groups") or [])
    findings: list[Finding] = []
    count = 0
    for group in groups:
        for rule in group.get("rules") or []:
            count += 1
            health = rule.get("health")
            if health in ("ok", "unknown", None):
                continue
            name = rule.get("name", "?")
            findings.append(
                Finding(
                    "server.rules",
                    Severity.ERROR,
                    f"rule {name} in group {group.get('name')} ({group.get('file')}) fails: "
                    f"{rule.get('lastError') or health}",
                    "fix the expression (try it in `vigie query` or the Prometheus UI); a "
                    "failing alerting rule never fires",
                    {
                        "group": group.get("name"),
                        "file": group.get("file"),
                        "rule": name,
                        "query": rule.get("query"),
                        "last_error": rule.get("lastError", ""),
                    },
                )
            )
    if not findings:
        return [
            Finding(
                "server.rules",
                Severity.OK,
                f"{count} rules in {len(groups)} groups evaluate without error",
            )
        ]
    return findings


def _alerts(data: Any) -> list[Finding]:
    alerts = list((data or {}).get("alerts") or [])
    findings: list[Finding] = []
    for alert in alerts:
        labels = alert.get("labels") or {}
        name = labels.get("alertname", "?")
        severity_label = labels.get("severity", "")
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
        details = {"labels": labels, "state": alert.get("state"), "since": alert.get("activeAt")}
        summary = (alert.get("annotations") or {}).get("summary", "")
        runbook = (alert.get("annotations") or {}).get("runbook_url", "")
        if alert.get("state") == "firing":
            findings.append(
                Finding(
                    "server.alerts",
                    Severity.ERROR if severity_label in CRITICAL_SEVERITIES else Severity.WARNING,
                    f"alert {name} firing ({shown})" + (f": {summary}" if summary else ""),
                    f"follow the runbook {runbook}" if runbook else "investigate and fix the cause",
                    details,
                )
            )
        else:
            findings.append(
                Finding(
                    "server.alerts",
                    Severity.INFO,
                    f"alert {name} {alert.get('state')} ({shown})",
                    "",
                    details,
                )
            )
    if not alerts:
        return [Finding("server.alerts", Severity.OK, "no alert pending or firing")]
    return findings


def _notifications(client: httpx.Client, base: str) -> list[Finding]:
    try:
        data = _data(client, base + "/api/v1/notifications")
    except _ApiUnavailableError as unavailable:
        return [
            Finding(
                "server.notifications",
                Severity.INFO,
                f"notification history not available on this server "
                f"(/api/v1/notifications: {unavailable.status})",
                "check receivers in the server's or Alertmanager's own UI",
            )
        ]
    except (httpx.HTTPError, ValueError) as error:
        return [
            Finding(
                "server.notifications",
                Severity.WARNING,
                f"/api/v1/notifications could not be read: {error!r}",
                "check the server's logs",
            )
        ]
    entries = [entry for entry in (data or []) if isinstance(entry, dict)]
    # The history is newest first: a receiver's state is that of its latest notification.
    latest: dict[str, dict[str, Any]] = {}
    for entry in entries:
        latest.setdefault(str(entry.get("receiver", "?")), entry)
    findings: list[Finding] = []
    for receiver, entry in sorted(latest.items()):
        state, last_error = entry.get("state"), str(entry.get("lastError") or "")
        details = {"receiver": receiver, "state": state, "last_error": last_error}
        if state == "failed":
            findings.append(
                Finding(
                    "server.notifications",
                    Severity.ERROR,
                    f"receiver {receiver}: last notification failed: {last_error or 'no error'}",
                    "check the receiver's URL and credentials: alerts are not reaching anyone",
                    details,
                )
            )
        elif state == "pending" and last_error:
            findings.append(
                Finding(
                    "server.notifications",
                    Severity.WARNING,
                    f"receiver {receiver}: retrying after {entry.get('attempts', '?')} failed "
                    f"attempts: {last_error}",
                    "check the receiver is reachable; vigie keeps retrying",
                    details,
                )
            )
    if not findings:
        shown = f"{len(latest)} receiver{'s' if len(latest) != 1 else ''}"
        return [
            Finding(
                "server.notifications",
                Severity.OK,
                f"no receiver failing ({shown} in the last {len(entries)} notifications)",
            )
        ]
    return findings
