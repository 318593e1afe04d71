"""No default password anywhere: not in the source, not in an exported production stack."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from vigie.cli.main import main

SOURCE = Path(__file__).resolve().parents[2] / "src" / "vigie"
#: A secret-named key set to a well-known default value.
_KEY = r"(?:password|passwd|secret|token|credentials)"
_VALUE = r"(?:admin|changeme|change-me|password|secret|root|grafana|prom-operator|vigie|1234\w*)"
DEFAULT_SECRET = re.compile(
    rf"""(?ix)
    {_KEY}\w*["']?\s*[:=]\s*(["']){_VALUE}\1   # quoted literal: password = "admin", a: 'x'
    | {_KEY}\w*=({_VALUE})$                    # env file: GF_..._PASSWORD=admin
    | {_KEY}\w*:\s+{_VALUE}$                   # YAML: password: admin
    """
)


#: Lines that look like defaults but are not credentials anyone deploys.
ALLOWED = {
    # The demo's traffic generator simulates a brute-force attempt with a wrong password.
    "demo/traffic.py": '"password": "123456"',
    # A docstring example of the demo's webhook sink (the real token is generated).
    "demo/webhook_sink.py": 'token="secret"',
}


def _allowed(path: Path, line: str) -> bool:
    return any(str(path).endswith(name) and text in line for name, text in ALLOWED.items())


def _defaults_in(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in {".js", ".css", ".png", ".pyc", ".db"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if DEFAULT_SECRET.search(line.strip().rstrip(",")) and not _allowed(path, line):
                found.append(f"{path}:{number}: {line.strip()}")
    return found


def test_the_source_holds_no_default_password() -> None:
    """No secret-named setting defaults to admin/changeme/password/... in src/vigie."""
    assert _defaults_in(SOURCE) == []


def test_the_pattern_catches_defaults() -> None:
    """The scan itself works (a test that can fail)."""
    assert DEFAULT_SECRET.search("GF_SECURITY_ADMIN_PASSWORD=admin")
    assert DEFAULT_SECRET.search('password: "changeme"')
    assert not DEFAULT_SECRET.search("password: ${GRAFANA_ADMIN_PASSWORD}")


def test_an_exported_stack_has_generated_secrets_only(tmp_path: Path) -> None:
    """`vigie stack export`: Grafana's admin password is random, in a 0600 .env, nowhere else."""
    config = tmp_path / "vigie.yml"
    config.write_text(
        "scrape_configs:\n  - job_name: app\n    static_configs: [{targets: ['a:1']}]\n"
    )
    out = tmp_path / "out"
    assert main(["stack", "export", "--config", str(config), "--output", str(out)]) == 0
    assert _defaults_in(out) == []
    env = out / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
    password = values["GRAFANA_ADMIN_PASSWORD"]
    assert len(password) >= 20
    for path in out.rglob("*"):
        if path.is_file() and path != env:
            assert password not in path.read_text(errors="replace"), path
