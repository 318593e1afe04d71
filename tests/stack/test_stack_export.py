"""The export is deterministic, keeps secrets across runs, and --check finds drift."""

from __future__ import annotations

from pathlib import Path

from vigie.stack import build_stack, load_stack_config, stack_drift, write_stack


def _build(sample: Path):  # type: ignore[no-untyped-def]
    routing = (sample / "alertmanager.yml").read_text(encoding="utf-8")
    return build_stack(load_stack_config(sample / "vigie.yml"), routing)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_input_same_bytes(sample: Path, tmp_path: Path) -> None:
    """Two exports of the same input are byte-identical (the .env included, once it exists)."""
    write_stack(_build(sample), tmp_path / "a")
    first = _tree(tmp_path / "a")
    write_stack(_build(sample), tmp_path / "a")
    assert _tree(tmp_path / "a") == first
    assert _build(sample).files == _build(sample).files


def test_existing_secrets_are_kept(sample: Path, tmp_path: Path) -> None:
    """Re-export keeps the secrets and user-filled values of an existing .env."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".env").write_text("GRAFANA_ADMIN_PASSWORD=mine\nPOSTGRES_PASSWORD_MAIN=filled\n")
    write_stack(_build(sample), out)
    env = (out / ".env").read_text(encoding="utf-8")
    assert "GRAFANA_ADMIN_PASSWORD=mine\n" in env
    assert "POSTGRES_PASSWORD_MAIN=filled\n" in env
    assert (out / ".env").stat().st_mode & 0o777 == 0o600


def test_check_reports_drift(sample: Path, tmp_path: Path) -> None:
    """A fresh export has no drift; an edited, a deleted and a stray file are each reported."""
    out = tmp_path / "out"
    write_stack(_build(sample), out)
    assert not stack_drift(_build(sample), out)
    (out / "prometheus.yml").write_text("global: {}\n")
    (out / "loki" / "loki.yml").unlink()
    (out / "rules" / "old.yml").write_text("groups: []\n")
    drift = stack_drift(_build(sample), out)
    assert drift.summary() == (
        "missing: loki/loki.yml\nchanged: prometheus.yml\nnot exported: rules/old.yml"
    )


def test_config_change_is_drift(sample: Path, tmp_path: Path) -> None:
    """Changing a threshold in the config makes the exported rule file drift."""
    out = tmp_path / "out"
    write_stack(_build(sample), out)
    text = (
        (sample / "vigie.yml")
        .read_text()
        .replace("ai: {enabled: true}", "ai: {thresholds: {llm_daily_spend_eur: [1, 2]}}")
    )
    (sample / "vigie.yml").write_text(text)
    assert stack_drift(_build(sample), out).changed == [
        "grafana/alerting/rules.yml",
        "kubernetes/kube-prometheus-stack.values.yml",
        "rules/vigie-ai.rules.yml",
    ]


def test_switching_traces_leaves_a_stale_folder_reported(sample: Path, tmp_path: Path) -> None:
    """After switching from otel-collector to tempo, the old collector config is drift."""
    out = tmp_path / "out"
    write_stack(_build(sample), out)
    text = (sample / "vigie.yml").read_text().replace("traces: otel-collector", "traces: tempo")
    (sample / "vigie.yml").write_text(text)
    drift = stack_drift(_build(sample), out)
    assert drift.extra == ["otel-collector/config.yml"]
    assert drift.changed == ["docker-compose.yml"]


def test_exported_dashboards_leave_out_the_embedded_server_row() -> None:
    """Grafana gets the infrastructure dashboard without the "vigie itself" row (no vigie there)."""
    import json

    from vigie.stack.config import StackConfig

    files = build_stack(StackConfig()).files
    exported = json.loads(files["grafana/dashboards/vigie-infrastructure.json"])
    text = json.dumps(exported)
    assert "vigie_rule_evaluation_failures_total" not in text
    assert "vigie_otlp_records_refused_total" not in text
    titles = [panel["title"] for panel in exported["panels"] if panel.get("type") == "row"]
    assert "vigie itself" not in titles
    assert "Apps: processes and authentication" in titles
