"""Rule groups: evaluation order, store writes, staleness markers, aligned schedule."""

from __future__ import annotations

import json
import math
import time
import urllib.request
from pathlib import Path

import pytest

from support import free_port, require_binary
from support.prometheus import running_prometheus
from vigie.query.engine import Engine
from vigie.query.result import InstantVector, Sample
from vigie.rules.alerting import Alert
from vigie.rules.group import RuleGroup, xxhash64
from vigie.rules.rule_file import AlertingRuleSpec, RecordingRuleSpec, RuleGroupSpec
from vigie.rules.unit_test import vector_query
from vigie.store.interface import Matcher, is_stale
from vigie.store.memory import MemoryStorage

MINUTE = 60_000


def _values(storage: MemoryStorage, name: str) -> list[tuple[int, float]]:
    found = storage.querier().select([Matcher("__name__", "=", name)], 0, 10**13)
    return [
        (int(t), float(v))
        for series in found
        for t, v in zip(series.timestamps, series.values, strict=True)
    ]


def test_xxhash64_known_vectors() -> None:
    """The schedule hash is XXH64 (checked against the reference vectors)."""
    assert xxhash64(b"") == 0xEF46DB3751D8E999
    assert xxhash64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxhash64(b"Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1


def test_eval_timestamp_is_aligned() -> None:
    """Ticks are interval-spaced with a fixed per-group offset derived from file and name."""
    group = RuleGroup(RuleGroupSpec("g", (), interval_ms=MINUTE, path="rules.yml"))
    offset = (group.hash() % (MINUTE * 1_000_000)) // 1_000_000
    for now in (0, 59_999, 60_000, 1_234_567_890):
        tick = group.eval_timestamp(now)
        assert now - MINUTE < tick <= now
        assert (tick - offset) % MINUTE == 0
        assert group.eval_timestamp(tick) == tick
    other = RuleGroup(RuleGroupSpec("h", (), interval_ms=MINUTE, path="rules.yml"))
    assert other.eval_timestamp(10**12) != group.eval_timestamp(10**12)


def test_rules_run_in_order_and_see_earlier_results() -> None:
    """A recording rule's output is visible to the rules after it in the same evaluation."""
    storage = MemoryStorage()
    appender = storage.appender()
    for minute in range(3):
        appender.append({"__name__": "up", "job": "a"}, minute * MINUTE, 0.0)
    appender.commit()
    spec = RuleGroupSpec(
        "g",
        (
            RecordingRuleSpec("job:up:min", "min by (job) (up)"),
            AlertingRuleSpec("JobDown", "job:up:min == 0", labels={"severity": "page"}),
        ),
    )
    group = RuleGroup(spec)
    sent: list[tuple[str, list[Alert]]] = []
    query = vector_query(Engine(storage).instant)
    group.evaluate(
        2 * MINUTE, query, storage, notify=lambda expr, alerts: sent.append((expr, alerts))
    )
    assert _values(storage, "job:up:min") == [(2 * MINUTE, 0.0)]
    assert _values(storage, "ALERTS") == [(2 * MINUTE, 1.0)]
    assert _values(storage, "ALERTS_FOR_STATE") == [(2 * MINUTE, 120.0)]
    assert [(expr, [a.labels for a in alerts]) for expr, alerts in sent] == [
        ("job:up:min == 0", [{"job": "a", "alertname": "JobDown", "severity": "page"}])
    ]
    assert group.last_evaluation == 2 * MINUTE


def test_vanished_series_get_staleness_markers() -> None:
    """A series a rule stops returning is marked stale at the next evaluation."""
    storage = MemoryStorage()
    present = {"on": True}

    def query(expr: str, ts: int) -> InstantVector:
        return InstantVector([Sample({"k": "v"}, ts, 1.0)] if present["on"] else [])

    group = RuleGroup(RuleGroupSpec("g", (RecordingRuleSpec("r", "x"),), query_offset_ms=5_000))
    group.evaluate(MINUTE, query, storage)
    present["on"] = False
    group.evaluate(2 * MINUTE, query, storage)
    group.evaluate(3 * MINUTE, query, storage)
    points = _values(storage, "r")
    assert points[0] == (55_000, 1.0)
    assert points[1][0] == 115_000
    assert is_stale(points[1][1])
    assert len(points) == 2  # marked once


def test_failing_rule_keeps_series_and_others_run() -> None:
    """A failing rule records its error, writes no staleness markers; later rules still run."""
    storage = MemoryStorage()
    broken = {"on": False}

    def query(expr: str, ts: int) -> InstantVector:
        if expr == "bad" and broken["on"]:
            from vigie.exceptions import QueryError

            raise QueryError("boom")
        return InstantVector([Sample({}, ts, 2.0)])

    spec = RuleGroupSpec("g", (RecordingRuleSpec("a", "bad"), RecordingRuleSpec("b", "good")))
    group = RuleGroup(spec)
    group.evaluate(MINUTE, query, storage)
    broken["on"] = True
    group.evaluate(2 * MINUTE, query, storage)
    assert _values(storage, "a") == [(MINUTE, 2.0)]
    assert _values(storage, "b") == [(MINUTE, 2.0), (2 * MINUTE, 2.0)]
    assert group.rules[0].last_error == "boom"
    assert group.rules[1].last_error == ""


def test_mark_stale_and_state_copy() -> None:
    """A removed group marks its series stale; a reloaded group keeps its alerts."""
    storage = MemoryStorage()
    query = vector_query(lambda expr, ts: InstantVector([Sample({}, ts, 1.0)]))
    spec = RuleGroupSpec("g", (AlertingRuleSpec("A", "x", for_ms=5 * MINUTE),))
    old = RuleGroup(spec)
    old.evaluate(MINUTE, query, storage)
    new = RuleGroup(spec)
    new.copy_state_from(old)
    new.evaluate(6 * MINUTE, query, storage)
    assert new.alerting_rules()[0].active_alerts()[0].state.value == "firing"
    new.mark_stale(7 * MINUTE, storage)
    points = sorted(_values(storage, "ALERTS"), key=lambda p: (p[0], is_stale(p[1])))
    # pending at 1m, replaced by firing at 6m (pending marked stale), all stale at 7m.
    assert [(t, "stale" if is_stale(v) else v) for t, v in points] == [
        (MINUTE, 1.0), (6 * MINUTE, 1.0), (6 * MINUTE, "stale"), (7 * MINUTE, "stale"),
    ]  # fmt: skip
    assert math.isnan(points[-1][1])


@pytest.mark.slow
def test_schedule_phase_matches_real_prometheus(tmp_path: Path) -> None:
    """A real Prometheus evaluates each group at the phase vigie computes for it."""
    binary = require_binary("prometheus", package="prometheus")
    names = ["alpha", "beta", "gamma", "delta"]
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n"
        + "".join(
            f"  - name: {name}\n    interval: 2s\n    rules:\n"
            f"      - record: {name}_one\n        expr: vector(1)\n"
            for name in names
        )
    )
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  evaluation_interval: 2s\nrule_files:\n  - rules.yml\n")
    port = free_port()
    with running_prometheus(binary, config, tmp_path / "data", port):
        groups = _wait_for_evaluations(port, len(names))
    for group in groups:
        ours = RuleGroup(RuleGroupSpec(group["name"], (), interval_ms=2000, path=group["file"]))
        expected_ns = ours.hash() % 2_000_000_000
        # lastEvaluation is Prometheus's wall clock when the evaluation started: a few ms late.
        stamp = group["lastEvaluation"].rstrip("Z")
        seconds, _, fraction = stamp.rpartition(":")[2].partition(".")
        actual_ns = (int(seconds) % 2) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])
        delay = (actual_ns - expected_ns) % 2_000_000_000
        assert delay < 100_000_000, (group["name"], expected_ns, actual_ns)


def _wait_for_evaluations(port: int, count: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v1/rules", timeout=2
            ) as answer:
                groups = json.load(answer)["data"]["groups"]
        except OSError:
            groups = []
        evaluated = [g for g in groups if not g["lastEvaluation"].startswith("0001")]
        if len(evaluated) == count:
            return evaluated
        time.sleep(0.2)
    raise AssertionError("Prometheus did not evaluate the groups within 30 s")
