"""The traffic generator's FAQ mix and drill modes, against the FAQ app under uvicorn."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from vigie.demo.traffic import TrafficGenerator, diurnal_factor, remote_drills
from vigie.exceptions import ConfigurationError

Served = Any  # tests/demo/conftest.py: Served
ANSWERS = {"model": "faq_answer"}


def _low_confidence_share(served: Served, before: tuple[float, float]) -> float:
    low = served.metric("ml_low_confidence_predictions_total", ANSWERS) - before[0]
    total = served.metric("ml_prediction_confidence_count", ANSWERS) - before[1]
    assert total >= 5, "too few answers to judge"
    return low / total


def _counts(served: Served) -> tuple[float, float]:
    return (
        served.metric("ml_low_confidence_predictions_total", ANSWERS),
        served.metric("ml_prediction_confidence_count", ANSWERS),
    )


def test_faq_mix_is_bounded_and_realistic(served: Served) -> None:
    """At 40 req/s for 1.5 s: about 60 requests, mostly 2xx, questions asked and rated."""
    generator = TrafficGenerator(served.url, rate=40, seed=3, password="open-sesame")
    started = time.monotonic()
    stats = generator.run(threading.Event(), duration=1.5)
    assert time.monotonic() - started < 5
    assert 20 <= stats.sent <= 40 * 1.5 + 4
    assert stats.by_class["failed"] == 0
    assert stats.by_class["5xx"] == 0
    assert stats.by_class["2xx"] > stats.sent * 0.8
    ask = {"http_route": "/ask", "http_response_status_code": "200"}
    assert served.metric("http_server_request_duration_seconds_count", ask) >= 5
    assert served.metric("retrieval_searches_total", {"retriever": "faq"}) >= 5


def test_drift_mode_drops_confidence(served: Served) -> None:
    """Off-topic questions (drift) make most answers low-confidence; normal traffic does not."""
    before = _counts(served)
    TrafficGenerator(served.url, rate=40, seed=4).run(threading.Event(), duration=1.2)
    normal = _low_confidence_share(served, before)
    before = _counts(served)
    drifting = TrafficGenerator(served.url, rate=40, seed=4, modes={"drift"})
    drifting.run(threading.Event(), duration=1.2)
    drifted = _low_confidence_share(served, before)
    assert normal < 0.35
    assert drifted > 0.6


def test_auth_drill_makes_a_failed_login_burst(served: Served) -> None:
    """With the app's auth drill on, the generator (following the drills) fails logins en masse."""
    served.drill("auth", True)
    generator = TrafficGenerator(
        served.url, rate=40, seed=5, drills=remote_drills(served.url, served.service.drills.token)
    )
    stats = generator.run(threading.Event(), duration=1.0)
    failures = served.metric("vigie_auth_failures_total", {"reason": "bad_password"}) + (
        served.metric("vigie_auth_failures_total", {"reason": "unknown_user"})
    )
    assert generator.modes() == {"auth"}
    assert failures >= stats.sent * 0.4
    assert stats.by_class["4xx"] >= failures


def test_set_mode_switches_while_running() -> None:
    """Modes switch on and off; unknown modes, mixes and day lengths are refused."""
    generator = TrafficGenerator("http://127.0.0.1:9", drills=lambda: {"drift", "latency"})
    assert generator.modes() == {"drift"}
    generator.set_mode("auth", True)
    assert generator.modes() == {"drift", "auth"}
    generator.set_mode("auth", False)
    assert generator.modes() == {"drift"}
    with pytest.raises(ConfigurationError, match="mode"):
        generator.set_mode("chaos", True)
    with pytest.raises(ConfigurationError, match="mix"):
        TrafficGenerator("http://x", mix="shop")
    with pytest.raises(ConfigurationError, match="day_seconds"):
        TrafficGenerator("http://x", day_seconds=0)
    with pytest.raises(ConfigurationError, match="modes"):
        TrafficGenerator("http://x", modes={"chaos"})


def test_diurnal_pattern() -> None:
    """The compressed day starts mid-morning, peaks at the full rate and bottoms at 35 %."""
    assert diurnal_factor(123.0, None) == 1.0
    assert diurnal_factor(0.0, 100.0) == pytest.approx(0.8661, abs=1e-4)
    assert diurnal_factor(15.0, 100.0) == pytest.approx(1.0)
    assert diurnal_factor(65.0, 100.0) == pytest.approx(0.35)
    samples = [diurnal_factor(t, 100.0) for t in range(0, 200)]
    assert min(samples) >= 0.35 - 1e-9
    assert max(samples) <= 1.0 + 1e-9
