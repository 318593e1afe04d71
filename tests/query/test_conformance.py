"""Every case of Prometheus's PromQL conformance corpus, one pytest case each.

Cases over native histograms or experimental functions are skipped with the reason (the
corpus README's policy); every other case must pass, except those listed in
known_failures.txt, which are strict xfails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import REPO_ROOT, conformance_dir
from vigie.query.conformance import Case, parse_script, run_case

KNOWN_FAILURES = Path(__file__).with_name("known_failures.txt")


def _corpus() -> Path | None:
    configured = os.environ.get("VIGIE_CONFORMANCE_DIR", "")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "conformance"
    folder = path / "promql"
    return folder if folder.is_dir() else None


def _known_failures() -> dict[str, str]:
    known: dict[str, str] = {}
    for line in KNOWN_FAILURES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            known[name] = reason
    return known


def _params() -> list[object]:
    folder = _corpus()
    if folder is None:
        return [pytest.param(None, id="corpus-missing")]
    known = _known_failures()
    params: list[object] = []
    for path in sorted(folder.glob("*.test")):
        for case in parse_script(path.read_text(encoding="utf-8"), path.name):
            marks = []
            if case.name in known:
                marks.append(pytest.mark.xfail(reason=known[case.name], strict=True))
            params.append(pytest.param(case, id=case.name, marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_conformance_case(case: Case | None) -> None:
    """The engine gives Prometheus's answer for this test-script case."""
    if case is None:
        conformance_dir()
        pytest.fail("conformance corpus has no promql/ folder")
    result = run_case(case)
    if result.status == "skipped":
        pytest.skip(result.detail)
    assert result.status == "passed", f"{case.query}\n{result.detail}"
