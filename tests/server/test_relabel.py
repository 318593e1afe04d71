"""Relabeling rules, checked against Prometheus's own test cases and a real Prometheus."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from support import free_port, require_binary
from support.prometheus import running_prometheus
from vigie.server.config import parse_config
from vigie.server.relabel import RelabelRule, compile_regex, relabel
from vigie.server.targets import DroppedTarget, Target, make_target

BASE = {"a": "foo", "b": "bar", "c": "baz"}


def _rule(**options: object) -> RelabelRule:
    if "regex" in options:
        options["regex"] = compile_regex(str(options["regex"]))
    if "source_labels" in options:
        options["source_labels"] = tuple(options["source_labels"])  # type: ignore[arg-type]
    return RelabelRule(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            _rule(
                source_labels=["a"], regex="f(.*)", target_label="d", replacement="ch${1}-ch${1}"
            ),
            {**BASE, "d": "choo-choo"},
        ),
        (
            _rule(
                source_labels=["a", "b"],
                regex="f(.*);(.*)r",
                target_label="a",
                replacement="b${1}${2}m",
            ),
            {**BASE, "a": "boobam"},
        ),
        (
            _rule(source_labels=["a"], regex="(f).*", target_label="$1", replacement="$1"),
            {**BASE, "f": "f"},
        ),
        (
            _rule(source_labels=["a"], regex="foo", target_label="a", replacement=""),
            {"b": "bar", "c": "baz"},
        ),
        (_rule(source_labels=["a"], regex="nomatch", target_label="d"), BASE),
        (
            _rule(source_labels=["c"], target_label="d", action="hashmod", modulus=1000),
            {**BASE, "d": "976"},
        ),
        (
            _rule(regex="(b.*)", replacement="${1}_copy", action="labelmap"),
            {**BASE, "b_copy": "bar"},
        ),
        (_rule(regex="b", action="labeldrop"), {"a": "foo", "c": "baz"}),
        (_rule(regex="a|b", action="labelkeep"), {"a": "foo", "b": "bar"}),
        (_rule(source_labels=["a"], target_label="u", action="uppercase"), {**BASE, "u": "FOO"}),
        (_rule(source_labels=["a"], regex="f.*", action="keep"), BASE),
        (_rule(source_labels=["a"], regex="f.*", action="drop"), None),
        (_rule(source_labels=["a"], regex="o.*", action="keep"), None),
        (_rule(source_labels=["a"], target_label="b", action="keepequal"), None),
        (_rule(source_labels=["a"], target_label="b", action="dropequal"), BASE),
    ],
)
def test_prometheus_relabel_cases(rule: RelabelRule, expected: dict[str, str] | None) -> None:
    """Each action gives the output of Prometheus's relabel tests."""
    assert relabel(BASE, [rule]) == expected


def test_regex_is_fully_anchored() -> None:
    """`oo` does not match `foo`: relabel regexes are anchored at both ends."""
    assert relabel(BASE, [_rule(source_labels=["a"], regex="oo", action="keep")]) is None


def test_target_relabeling_sets_address_path_and_params() -> None:
    """relabel_configs can rewrite the address, path, params and drop targets."""
    config = parse_config(
        "scrape_configs:\n  - job_name: blackbox\n    metrics_path: /probe\n"
        "    params: {module: [http_2xx]}\n"
        "    static_configs: [{targets: ['https://example.org', 'skip.me']}]\n"
        "    relabel_configs:\n"
        "      - {source_labels: [__address__], regex: skip.*, action: drop}\n"
        "      - {source_labels: [__address__], target_label: __param_target}\n"
        "      - {source_labels: [__param_target], target_label: instance}\n"
        "      - {target_label: __address__, replacement: '127.0.0.1:9115'}\n"
    )
    job = config.scrape_configs[0]
    kept = make_target(job, "https://example.org", (), "static")
    assert isinstance(kept, Target)
    assert (
        kept.url == "http://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.org"
    )
    assert dict(kept.labels) == {"instance": "https://example.org", "job": "blackbox"}
    dropped = make_target(job, "skip.me", (), "static")
    assert isinstance(dropped, DroppedTarget)
    assert dict(dropped.discovered)["__address__"] == "skip.me"


@pytest.mark.slow
def test_target_labels_match_a_real_prometheus(tmp_path: Path) -> None:
    """The same relabel_configs give the same target labels and URLs in Prometheus and vigie."""
    binary = require_binary("prometheus")
    text = (
        "scrape_configs:\n  - job_name: relabel\n    metrics_path: /m\n"
        "    params: {module: [a, b]}\n"
        "    static_configs:\n"
        "      - targets: ['web-1.example:8080', 'db-1.example:9187', 'drop-me:1']\n"
        "        labels: {env: prod, team: ai}\n"
        "    relabel_configs:\n"
        "      - {source_labels: [__address__], regex: 'drop-.*', action: drop}\n"
        "      - {source_labels: [__address__], regex: '([^.]+)-\\d+\\..*', target_label: role}\n"
        "      - {source_labels: [__address__], target_label: shard, modulus: 4, action: hashmod}\n"
        "      - {source_labels: [env, team], separator: '/', target_label: owner}\n"
        "      - {regex: team, action: labeldrop}\n"
        "      - {source_labels: [role], target_label: __param_module}\n"
        "      - {source_labels: [role], regex: db, target_label: __metrics_path__, "
        "replacement: /db-metrics}\n"
    )
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(text)
    port = free_port()
    with running_prometheus(binary, config_path, tmp_path / "data", port) as prometheus:
        theirs: dict[str, dict[str, str]] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(theirs) < 2:
            time.sleep(0.3)
            try:
                data = httpx.get(f"{prometheus.url}/api/v1/targets").json()["data"]
            except httpx.HTTPError:
                continue
            theirs = {t["scrapeUrl"]: t["labels"] for t in data["activeTargets"]}
        assert len(theirs) == 2, prometheus.log_tail(2000)
    job = parse_config(text).scrape_configs[0]
    ours = {}
    for address in ("web-1.example:8080", "db-1.example:9187", "drop-me:1"):
        target = make_target(job, address, job.static_configs[0].labels, "static")
        if isinstance(target, Target):
            ours[target.url] = dict(target.labels)
    assert ours == theirs
