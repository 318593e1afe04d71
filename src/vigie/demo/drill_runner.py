"""Incident drills against a running ``vigie demo``: inject, watch the alert, heal, verify.

:func:`run_drill` plays one incident end to end and prints a compact timeline:

1. inject the fault: the app's drill switch (``POST /_drill/NAME``), or the demo's control
   switch that stops the app (``down``);
2. watch the server's ``/api/v1/alerts`` until the drill's alert goes ``pending`` then
   ``firing``, and the webhook sink until the firing notification arrives (with its runbook
   link);
3. optionally diagnose (``vigie drill schema`` runs ``vigie doctor``'s checks here);
4. heal the fault, and wait for the resolved notification.

The addresses and the drill token come from ``DATA_DIR/demo-state.json``, written by
``vigie demo``. Timeouts follow the demo's time compression: a drill whose alert needs a 15 m
window and a 15 m ``for`` waits about 3 minutes at the default 10x.

Example::

    state = DemoState.read(Path("vigie-demo/demo-state.json"))
    result = run_drill("errors", state)
    result.ok, result.alert, result.runbook_url
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

from vigie.demo.supervisor import DemoState
from vigie.exceptions import VigieError

__all__ = ["DRILLS", "DRILL_NAMES", "DrillError", "DrillResult", "DrillSpec", "run_drill"]


@dataclass(frozen=True)
class DrillSpec:
    """One drill: its fault, the alerts that may answer it, and its nominal alert delay.

    ``alerts`` are accepted in order of preference (any of them firing completes the drill);
    ``minutes`` is how long the slowest of them needs at real time (window plus ``for``).
    """

    name: str
    fault: str
    alerts: tuple[str, ...]
    minutes: float
    fix: str


DRILLS: dict[str, DrillSpec] = {
    spec.name: spec
    for spec in (
        DrillSpec(
            "latency",
            "the LLM answers 3 s slower",
            ("LLMLatencyP95High", "HTTPLatencyP95High"),
            10,
            "restore the LLM backend or fail over",
        ),
        DrillSpec(
            "errors",
            "half of /ask and /classify fail with 500",
            ("HTTPErrorRatioHigh",),
            10,
            "roll back the faulty release",
        ),
        DrillSpec(
            "llm-errors",
            "the LLM answers 429 rate limits",
            ("LLMErrorRatioHigh",),
            10,
            "raise the quota, back off and retry, or fail over",
        ),
        DrillSpec(
            "cost",
            "answers ask for 4000 tokens and 8 context entries",
            ("LLMTokenRateHigh", "LLMDailySpendHigh"),
            15,
            "cap max_tokens and the context size",
        ),
        DrillSpec(
            "drift",
            "questions shift off-topic; confidence drops",
            ("LowConfidenceShareHigh", "DriftDetected"),
            30,
            "extend the corpus, or route off-topic questions away",
        ),
        DrillSpec("down", "the app's process is stopped", ("TargetDown",), 1, "restart the app"),
        DrillSpec(
            "auth",
            "a burst of failed logins",
            ("AuthFailureRateHigh",),
            7,
            "block the source, rate-limit /login",
        ),
        DrillSpec(
            "schema",
            "the database is one Alembic revision behind head",
            ("HealthCheckFailing",),
            1,
            "alembic upgrade head",
        ),
    )
}
DRILL_NAMES = tuple(DRILLS)


class DrillError(VigieError):
    """A drill could not inject or heal its fault, or its alert did not come in time."""


@dataclass
class DrillResult:
    """What a drill saw; ``timeline`` holds ``(seconds since start, event)`` pairs."""

    drill: str
    alert: str | None = None
    states: list[str] = field(default_factory=list)
    firing_notification: dict[str, Any] | None = None
    resolved_notification: dict[str, Any] | None = None
    diagnosis: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)

    @property
    def runbook_url(self) -> str | None:
        """The runbook link of the firing notification."""
        alert = self.firing_notification or {}
        return (alert.get("annotations") or {}).get("runbook_url")

    @property
    def ok(self) -> bool:
        """True when the alert fired and both notifications arrived."""
        return self.firing_notification is not None and self.resolved_notification is not None


Diagnose = Callable[[DemoState], list[str]]


class _Run:
    def __init__(self, spec: DrillSpec, state: DemoState, out: TextIO | None) -> None:
        self.spec = spec
        self.state = state
        self.out = out
        self.client = httpx.Client(timeout=10)
        self.started = time.monotonic()
        self.result = DrillResult(spec.name)
        self.headers = {"Authorization": f"Bearer {state.drill_token}"}
        nominal = spec.minutes * 60 / state.time_scale
        interval = state.evaluation_interval_seconds
        self.timeout = 3 * nominal + 20 * interval + 60

    def note(self, event: str) -> None:
        at = time.monotonic() - self.started
        self.result.timeline.append((at, event))
        if self.out is not None:
            print(f"  +{at:6.1f}s  {event}", file=self.out, flush=True)

    def firing(self) -> dict[str, str]:
        """The drill's alerts known to the server now: ``{alertname: state}`` (firing wins)."""
        answer = self.client.get(self.state.server_url + "/api/v1/alerts").json()
        found: dict[str, str] = {}
        for alert in answer.get("data", {}).get("alerts", []):
            name = alert.get("labels", {}).get("alertname")
            if name in self.spec.alerts and found.get(name) != "firing":
                found[name] = str(alert.get("state"))
        return found

    def notifications(self, since: int) -> list[dict[str, Any]]:
        answer = self.client.get(self.state.sink_url + "/notifications", params={"since": since})
        items: list[dict[str, Any]] = answer.json()["notifications"]
        return items

    def last_index(self) -> int:
        items = self.notifications(0)
        return items[-1]["index"] + 1 if items else 0

    def switch(self, active: bool) -> None:
        if self.spec.name == "down":
            action = "app/start" if not active else "app/stop"
            url = f"{self.state.sink_url}/control/{action}"
            answer = self.client.post(url, headers=self.headers, timeout=60)
        else:
            url = f"{self.state.app_url}/_drill/{self.spec.name}"
            answer = self.client.post(url, headers=self.headers, json={"active": active})
        if answer.status_code != 200:
            raise DrillError(f"{url} answered {answer.status_code}: {answer.text[:200]}")
        detail = answer.json().get("detail", "")
        self.note(("injected: " if active else "healed: ") + str(detail or self.spec.fault))

    def tick(self) -> None:
        """Between polls: keep the schema drill's health check fresh (it runs on /health)."""
        if self.spec.name == "schema":
            with contextlib.suppress(httpx.HTTPError):
                self.client.get(self.state.app_url + "/health", timeout=3)
        time.sleep(0.5)


def run_drill(
    name: str,
    state: DemoState,
    *,
    out: TextIO | None = None,
    diagnose: Diagnose | None = None,
    timeout: float | None = None,
) -> DrillResult:
    """Play drill ``name`` against the demo of ``state``; raises :class:`DrillError` on failure.

    The fault is healed whatever happens (even on Ctrl-C), so a failed drill leaves the demo
    healthy.
    """
    spec = DRILLS.get(name)
    if spec is None:
        raise DrillError(f"unknown drill {name!r}; known: {', '.join(DRILL_NAMES)}")
    run = _Run(spec, state, out)
    if timeout is not None:
        run.timeout = timeout
    if out is not None:
        print(f"drill {name}: {spec.fault}; expecting {' or '.join(spec.alerts)}", file=out)
    with run.client:
        _settle(run)
        since = run.last_index()
        healed = False
        try:
            run.switch(True)
            _await_firing(run, since)
            if diagnose is not None:
                for line in diagnose(state):
                    run.result.diagnosis.append(line)
                    run.note("diagnosis: " + line)
            run.switch(False)
            healed = True
            if name == "down":
                _await_app(run)
            _await_resolved(run, since)
        finally:
            if not healed:
                try:
                    run.switch(False)
                except (httpx.HTTPError, DrillError) as error:
                    run.note(f"could not heal: {error}")
    if out is not None:
        print(f"drill {name}: passed in {time.monotonic() - run.started:.1f} s", file=out)
    return run.result


def _settle(run: _Run) -> None:
    """Wait until none of the drill's alerts fires (an earlier incident still resolving)."""
    deadline = time.monotonic() + run.timeout
    reported = False
    while any(state in ("firing", "pending") for state in run.firing().values()):
        if not reported:
            run.note("waiting for an earlier alert to resolve first")
            reported = True
        if time.monotonic() > deadline:
            raise DrillError(f"{'/'.join(run.spec.alerts)} is still active from before")
        time.sleep(1)


def _await_firing(run: _Run, since: int) -> None:
    deadline = time.monotonic() + run.timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        for alert, state in run.firing().items():
            if seen.get(alert) != state and (state != "pending" or alert not in seen):
                seen[alert] = state
                run.result.states.append(f"{alert}:{state}")
                run.note(f"alert {alert} {state}")
        if run.result.firing_notification is None:
            for payload in run.notifications(since):
                found = _alert_of(payload, run.spec.alerts, "firing")
                if found is not None:
                    run.result.firing_notification = found
                    run.result.alert = found["labels"]["alertname"]
                    link = (found.get("annotations") or {}).get("runbook_url", "(no runbook)")
                    run.note(f"notification firing {run.result.alert} delivered; runbook {link}")
                    return
        run.tick()
    raise DrillError(
        f"drill {run.spec.name}: no firing notification of {' or '.join(run.spec.alerts)} "
        f"within {run.timeout:.0f} s (alert states seen: {run.result.states or 'none'})"
    )


def _await_app(run: _Run) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if run.client.get(run.state.app_url + "/health/live", timeout=2).status_code == 200:
                run.note("app answers again")
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise DrillError("the app did not come back within 120 s")


def _await_resolved(run: _Run, since: int) -> None:
    alert = run.result.alert
    assert alert is not None
    deadline = time.monotonic() + run.timeout
    while time.monotonic() < deadline:
        for payload in run.notifications(since):
            ours = [a for a in payload.get("alerts") or [] if a["labels"]["alertname"] == alert]
            if ours and all(a.get("status") == "resolved" for a in ours):
                run.result.resolved_notification = ours[0]
                run.note(f"notification resolved {alert} delivered")
                return
        run.tick()
    raise DrillError(f"drill {run.spec.name}: no resolved notification of {alert} "
                     f"within {run.timeout:.0f} s")  # fmt: skip


def _alert_of(
    payload: dict[str, Any], names: tuple[str, ...], status: str
) -> dict[str, Any] | None:
    for alert in payload.get("alerts") or []:
        labels = alert.get("labels") or {}
        if labels.get("alertname") in names and alert.get("status") == status:
            return dict(alert)
    return None


def print_summary(results: list[DrillResult], out: TextIO = sys.stdout) -> None:
    """One line per drill: its alert and whether both notifications arrived."""
    for result in results:
        mark = "ok " if result.ok else "FAIL"
        print(f"{mark} {result.drill:11} {result.alert or '-'}", file=out)
