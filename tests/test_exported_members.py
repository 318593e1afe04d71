"""Each package's ``__all__`` lists exactly its public names, and every name resolves."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import vigie


def _packages() -> list[str]:
    names = ["vigie"]
    for info in pkgutil.walk_packages(vigie.__path__, "vigie."):
        if info.ispkg:
            names.append(info.name)
    return names


def test_top_level_names_resolve() -> None:
    """Every name in ``vigie.__all__`` can be imported."""
    for name in vigie.__all__:
        assert getattr(vigie, name) is not None, name


@pytest.mark.parametrize("package_name", _packages()[1:])
def test_package_all_matches_public_names(package_name: str) -> None:
    """A package re-exports exactly what its ``__all__`` says (submodules aside)."""
    package = importlib.import_module(package_name)
    declared = set(package.__all__)
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert declared == public
