"""Every VIGIE_* environment variable is declared, documented and read in one module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vigie.environment_variables import (
    ALL_VARIABLES,
    VIGIE_EXCLUDED_PATHS,
    VIGIE_LOW_CONFIDENCE_THRESHOLD,
    EnvironmentVariable,
)
from vigie.exceptions import ConfigurationError

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vigie"


def test_no_undeclared_variable_in_the_source() -> None:
    """No module mentions a VIGIE_ name that environment_variables.py does not declare."""
    declared = {variable.name for variable in ALL_VARIABLES}
    used: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        used |= set(re.findall(r"\bVIGIE_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    assert used - declared == set()


def test_every_variable_is_described() -> None:
    """Each declaration has a sentence of description."""
    assert all(variable.description.endswith(".") for variable in ALL_VARIABLES)
    assert len({variable.name for variable in ALL_VARIABLES}) == len(ALL_VARIABLES)


def test_typed_reads() -> None:
    """Numbers, lists and booleans are parsed; a bad value names the variable."""
    assert VIGIE_LOW_CONFIDENCE_THRESHOLD.read_float({}) == 0.5
    assert VIGIE_EXCLUDED_PATHS.read_list({"VIGIE_EXCLUDED_PATHS": "/a, /b/*,"}) == ["/a", "/b/*"]
    flag = EnvironmentVariable("VIGIE_X", "false", "A flag.")
    assert flag.read_bool({"VIGIE_X": "Yes"}) is True
    with pytest.raises(ConfigurationError, match="VIGIE_LOW_CONFIDENCE_THRESHOLD"):
        VIGIE_LOW_CONFIDENCE_THRESHOLD.read_float({"VIGIE_LOW_CONFIDENCE_THRESHOLD": "high"})
