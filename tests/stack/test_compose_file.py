"""docker-compose.yml, checked structurally (Docker is not available on test machines)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from vigie.stack import build_stack, load_stack_config, write_stack
from vigie.stack.config import StackConfig
from vigie.stack.images import IMAGES

_PINNED = re.compile(r"^[a-z0-9./-]+:v?\d+\.\d+\.\d+$")


def _compose(sample: Path, tmp_path: Path) -> tuple[dict, Path]:  # type: ignore[type-arg]
    out = tmp_path / "out"
    write_stack(build_stack(load_stack_config(sample / "vigie.yml")), out)
    return yaml.safe_load((out / "docker-compose.yml").read_text(encoding="utf-8")), out


def test_every_service_is_production_ready(sample: Path, tmp_path: Path) -> None:
    """Pinned image, health check, resource limits and a restart policy on every service."""
    compose, _ = _compose(sample, tmp_path)
    assert set(compose["services"]) == {
        "prometheus", "alertmanager", "grafana", "loki", "tempo", "otel-collector", "alloy",
        "node-exporter", "postgres-exporter-main", "cadvisor",
    }  # fmt: skip
    for name, service in compose["services"].items():
        assert _PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned"
        assert "latest" not in service["image"]
        check = service["healthcheck"]
        assert check["test"][0] == "CMD", name
        assert check["interval"], name
        assert check["retries"] >= 1, name
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0, name
        assert re.match(r"^\d+[mg]$", limits["memory"]), name
        assert service["restart"] == "unless-stopped"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_no_plaintext_default_password(sample: Path, tmp_path: Path) -> None:
    """Passwords come from .env through ${NAME:?...}: never a literal in the compose file."""
    compose, out = _compose(sample, tmp_path)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search("PASS|SECRET|TOKEN", key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}.{key}={value}"
    env = (out / ".env").read_text(encoding="utf-8")
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=\S{24,}$", env, re.MULTILINE)
    assert "POSTGRES_PASSWORD_MAIN=\n" in env  # only the user knows it: empty, compose refuses
    assert (out / ".env").stat().st_mode & 0o777 == 0o600


def test_volumes_are_declared_and_files_exist(sample: Path, tmp_path: Path) -> None:
    """Named volumes are declared; every ./file mounted is part of the export."""
    compose, out = _compose(sample, tmp_path)
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (out / source).exists(), f"{name} mounts missing {source}"
            elif not source.startswith("/"):
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_images_table_is_pinned() -> None:
    """The image table itself holds exact versions only."""
    assert all(_PINNED.match(image) for image in IMAGES.values())


def test_minimal_config_has_the_core_services() -> None:
    """Without collectors or log files: Prometheus, Alertmanager, Grafana, Loki, Tempo."""
    compose = yaml.safe_load(build_stack(StackConfig()).files["docker-compose.yml"])
    assert sorted(compose["services"]) == ["alertmanager", "grafana", "loki", "prometheus", "tempo"]
