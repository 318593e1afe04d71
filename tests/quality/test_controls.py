"""No false drift alarm on no-shift controls, at several window sizes; real shifts still alarm.

The bound: a model's alarm needs a feature whose effect size passes its floor and whose
Benjamini–Hochberg adjusted p-value is at most ALARM_LEVEL (0.001). When nothing moved, BH keeps
the chance that any feature of the model alarms at one check at most 0.1% (valid p-values,
independent features), so 0.1 false alarm expected per 100 checks; the effect floor only lowers
it. The tests assert none at all over 100 seeds per size (200 at 60/30 rows, where only the
correction protects). The seeds are fixed, so this is deterministic; the lowest adjusted p-value
over these controls is 0.00128 (60/30 rows, seed 68), then 0.0038 (400/400 rows, seed 70).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from vigie.quality import categorical
from vigie.quality.detector import ModelReport, check_model
from vigie.quality.methods import ALARM_LEVEL
from vigie.quality.sketches import CategoricalSketch, EmbeddingSketch, NumericSketch, Sketch

LABELS = np.array(["a", "b", "c", "d"])
MIX = [0.4, 0.3, 0.2, 0.1]


def _window(
    rng: np.random.Generator, rows: int, shift: dict[str, Any] | None = None
) -> dict[str, Sketch]:
    """One window of a model with six features; ``shift`` moves some of them."""
    shift = shift or {}
    features: dict[str, Sketch] = {}
    for name, values in (
        ("amount", rng.normal(5.0 + 2.0 * shift.get("amount", 0.0), 2.0, rows)),
        ("latency", rng.lognormal(0.0, 1.0, rows)),
        ("stars", rng.choice([1.0, 2.0, 3.0, 4.0], rows, p=shift.get("stars", [0.25] * 4))),
    ):
        numeric = NumericSketch(seed=0)
        numeric.add(values)
        features[name] = numeric
    for name, labels, mix in (
        ("plan", LABELS, shift.get("plan", MIX)),
        ("channel", LABELS[:2], shift.get("channel", [0.7, 0.3])),
    ):
        counts = CategoricalSketch()
        counts.add(rng.choice(labels, rows, p=mix).tolist())
        features[name] = counts
    vectors = EmbeddingSketch(8)
    vectors.add(rng.normal(shift.get("query", 0.0), 1.0, (min(rows, 150), 8)))
    features["query"] = vectors
    return features


@functools.cache
def _controls(reference_rows: int, current_rows: int, seeds: int) -> list[ModelReport]:
    """Reports of ``seeds`` no-shift checks (cached: two tests read the same controls)."""
    reports = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        reference, current = _window(rng, reference_rows), _window(rng, current_rows)
        reports.append(check_model("m", reference, current, {}, {}))
    return reports


@pytest.mark.parametrize(
    ("reference_rows", "current_rows", "seeds"),
    [(400, 400, 100), (5000, 100, 100), (2000, 2000, 100), (60, 30, 200)],
    ids=["equal-400", "large-reference-small-current", "equal-2000", "tiny"],
)
def test_no_false_alarm_on_controls(reference_rows: int, current_rows: int, seeds: int) -> None:
    """No feature alarms and no model drifts on any no-shift check, at the stated level."""
    reports = _controls(reference_rows, current_rows, seeds)
    alarms = [
        (seed, feature, verdict.adjusted_p_value)
        for seed, report in enumerate(reports)
        for feature, verdict in report.verdicts.items()
        if verdict.drifted
    ]
    assert alarms == []
    assert [seed for seed, report in enumerate(reports) if report.drifted] == []
    assert all(report.alarm_level == ALARM_LEVEL for report in reports)
    assert ALARM_LEVEL == 0.001


def test_evidently_verdicts_on_controls_are_informational() -> None:
    """Evidently's own verdicts do fire on controls: why they are not the alarm."""
    fired: dict[str, int] = {}
    for report in _controls(400, 400, 100):
        for feature, verdict in report.verdicts.items():
            fired[feature] = fired.get(feature, 0) + verdict.significant
    methods = {v.feature: v.method for v in report.verdicts.values()}
    assert methods == {
        "amount": "ks",
        "latency": "ks",
        "stars": "chisquare",
        "plan": "chisquare",
        "channel": "z",
        "query": "mmd",
    }
    # KS and z at 0.05 fire on ~5 of 100 controls by construction; 12 is the binomial 99.9% bound.
    assert max(fired["amount"], fired["latency"], fired["channel"]) <= 12
    # Evidently's chi-square takes the reference mix as exact: ~27% at equal sizes.
    assert min(fired["plan"], fired["stars"]) >= 10
    assert max(fired["plan"], fired["stars"]) <= 45
    # Past 1000 reference rows Evidently switches to distances, which noise passes on 100 rows.
    small = _controls(5000, 100, 100)
    wasserstein = sum(r.verdicts["amount"].significant for r in small)
    assert [r.verdicts["amount"].method for r in small[:1]] == ["wasserstein"]
    assert wasserstein >= 40


def test_chi_square_fires_on_27_percent_of_controls_and_homogeneity_on_5() -> None:
    """Evidently's goodness-of-fit chi-square is ~27% at p < 0.05; the homogeneity test ~5%."""
    rng = np.random.default_rng(0)
    keys = ["a", "b", "c", "d", "e", "f"]
    cases = {  # (mix, reference rows, current rows) -> (goodness-of-fit range, homogeneity max)
        (0, 400, 400): (0.22, 0.33),
        (0, 100, 100): (0.22, 0.33),
        (0, 5000, 100): (0.02, 0.08),  # a large reference is nearly exact: ~5%
        (1, 60, 30): (0.35, 0.55),  # rare categories unseen in the reference: p = 0
    }
    mixes = ([0.4, 0.3, 0.2, 0.1], [0.6, 0.3, 0.05, 0.03, 0.01, 0.01])
    for (mix, n_ref, n_cur), (low, high) in cases.items():
        draws = 1000
        reference = rng.multinomial(n_ref, mixes[mix], draws)
        current = rng.multinomial(n_cur, mixes[mix], draws)
        fit = homogeneity = 0
        for ref_row, cur_row in zip(reference, current, strict=True):
            ref = {k: int(v) for k, v in zip(keys, ref_row, strict=False) if v}
            cur = {k: int(v) for k, v in zip(keys, cur_row, strict=False) if v}
            fit += categorical.chi_square_pvalue(ref, cur) < 0.05
            homogeneity += categorical.homogeneity_pvalue(ref, cur) < 0.05
        assert low <= fit / draws <= high, (mix, n_ref, n_cur, fit)
        # A valid test: 5% expected; 6.5% is the binomial 99% bound over 1000 draws.
        assert 0.025 <= homogeneity / draws <= 0.065, (mix, n_ref, n_cur, homogeneity)


SHIFTS: dict[str, dict[str, Any]] = {
    "amount": {"amount": 0.5},  # mean shift of half a standard deviation
    "plan": {"plan": [0.2, 0.3, 0.2, 0.3]},  # 20 points of the mix moved from a to d
    "channel": {"channel": [0.5, 0.5]},  # 20 points
    "stars": {"stars": [0.1, 0.2, 0.3, 0.4]},
    "query": {"query": 0.5},  # every embedding coordinate moves half a std
}


@pytest.mark.parametrize(("reference_rows", "current_rows"), [(400, 400), (5000, 300)])
def test_alarm_fires_on_shifts_in_a_six_feature_model(
    reference_rows: int, current_rows: int
) -> None:
    """Each shift alarms on its feature on every one of 5 seeds; the other features stay quiet."""
    for feature, shift in SHIFTS.items():
        for seed in range(5):
            rng = np.random.default_rng(1000 + seed)
            reference = _window(rng, reference_rows)
            current = _window(rng, current_rows, shift)
            report = check_model("m", reference, current, {}, {})
            alarms = {f for f, v in report.verdicts.items() if v.drifted}
            assert alarms == {feature}, (feature, seed, report.verdicts[feature])
