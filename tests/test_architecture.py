"""The folder tree is the architecture: imports follow the arrows of ARCHITECTURE.md."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vigie"

# Direct arrows from ../shared/ARCHITECTURE.md; a part may also use what its targets may use.
ARROWS: dict[str, set[str]] = {
    "sdk": set(),
    "integrations": {"sdk"},
    "store": set(),
    "query": {"store"},
    "rules": {"query", "store"},
    "notify": {"rules"},
    "quality": {"store"},
    "telemetry": set(),
    "server": {
        "sdk",
        "integrations",
        "store",
        "query",
        "rules",
        "notify",
        "quality",
        "telemetry",
        "web",
    },
    "web": set(),
    "stack": {"rules", "notify"},
    "demo": {"sdk", "integrations"},
    "cli": {"server", "stack", "demo"},
}
# Top-level modules every part may use.
SHARED = {"exceptions", "environment_variables", "yaml_source"}


def _reachable(part: str) -> set[str]:
    seen: set[str] = set()
    todo = [part]
    while todo:
        for target in ARROWS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen | {part}


def _imported_vigie_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    for node in ast.walk(tree):
        # importlib.import_module("vigie.x") with a literal also counts.
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if name == "vigie" or name.startswith("vigie.")]


def _part_of(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else None


def _source_files() -> list[Path]:
    return sorted(path for path in SOURCE.rglob("*.py") if path.parent != SOURCE)


def test_every_part_has_arrows() -> None:
    """Every folder under src/vigie is a part named in ARCHITECTURE.md."""
    parts = {path.name for path in SOURCE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert parts <= set(ARROWS), f"undeclared parts: {sorted(parts - set(ARROWS))}"


@pytest.mark.parametrize("path", _source_files(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_follow_the_arrows(path: Path) -> None:
    """A module imports only its own part, the parts its arrows reach, and the shared modules."""
    part = path.relative_to(SOURCE).parts[0]
    allowed = _reachable(part) | SHARED
    wrong = []
    for line, module in _imported_vigie_modules(path):
        target = _part_of(module)
        if target is None or target.removesuffix(".py") in allowed:
            continue
        wrong.append(f"line {line}: {part} -> {module}")
    assert not wrong, f"{path.relative_to(SOURCE)} imports against the arrows: {wrong}"


def test_import_vigie_is_light() -> None:
    """`import vigie` loads no server dependency."""
    import subprocess
    import sys

    code = (
        "import sys, vigie\n"
        "heavy = {'numpy', 'fastapi', 'starlette', 'uvicorn', 'yaml', 'promql_parser', 'apprise',"
        " 'opentelemetry', 'openai', 'anthropic', 'faiss', 'httpx', 'sqlite3'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert output == "[]"
