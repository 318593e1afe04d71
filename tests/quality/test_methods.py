"""Method selection follows Evidently's defaults; forced methods and thresholds apply."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vigie.quality.alarm import raise_alarms
from vigie.quality.embeddings import MAX_PERMUTATIONS
from vigie.quality.methods import ALARM_LEVEL, METHODS, evaluate, select_method
from vigie.quality.sketches import CategoricalSketch, EmbeddingSketch, NumericSketch


@pytest.mark.parametrize(
    ("kind", "rows", "unique", "expected"),
    [
        ("numeric", 1000, 6, "ks"),
        ("numeric", 1000, None, "ks"),
        ("numeric", 1000, 5, "chisquare"),
        ("numeric", 1000, 2, "z"),
        ("numeric", 1001, 6, "wasserstein"),
        ("numeric", 1001, 5, "jensenshannon"),
        ("categorical", 1000, 3, "chisquare"),
        ("categorical", 1000, 2, "z"),
        ("categorical", 1001, 2, "jensenshannon"),
        ("embedding", 10, None, "mmd"),
    ],
)
def test_default_method(kind: str, rows: int, unique: int | None, expected: str) -> None:
    """Evidently's _get_default_stattest choice, boundary sizes included."""
    assert select_method(kind, reference_rows=rows, n_unique=unique).name == expected  # type: ignore[arg-type]


def test_threshold_directions() -> None:
    """KS drifts at p <= 0.05, chi-square at p < 0.05, distances at >= 0.1, MMD above 0.015."""
    assert METHODS["ks"].drifted(0.05)
    assert not METHODS["chisquare"].drifted(0.05)
    assert METHODS["wasserstein"].drifted(0.1)
    assert not METHODS["wasserstein"].drifted(0.0999)
    assert not METHODS["mmd"].drifted(0.015)
    assert METHODS["mmd"].drifted(0.0151)


def test_forced_psi_on_numeric_and_categorical() -> None:
    """psi can be forced; a mean shift of one std gives PSI well above 0.1."""
    rng = np.random.default_rng(4)
    reference, current = NumericSketch(), NumericSketch()
    reference.add(rng.normal(0, 1, 3000))
    current.add(rng.normal(1, 1, 3000))
    (drift,) = evaluate("x", reference, current, "psi")
    assert (drift.method, drift.drifted) == ("psi", True)
    assert drift.score > 0.5
    left, right = CategoricalSketch(), CategoricalSketch()
    left.add(["a"] * 50 + ["b"] * 50)
    right.add(["a"] * 25 + ["b"] * 75)
    (drift,) = evaluate("c", left, right, "psi")
    assert drift.score == pytest.approx(0.274653, abs=1e-6)


def test_empty_window_gives_no_verdict() -> None:
    """A feature absent from a window is not tested."""
    assert evaluate("x", NumericSketch(), NumericSketch()) == []


def test_alarm_evidence_per_kind() -> None:
    """Numeric: KS and Wasserstein; few values and categories: homogeneity and total variation."""
    rng = np.random.default_rng(6)
    reference, current = NumericSketch(), NumericSketch()
    reference.add(rng.normal(0, 1, 500))
    current.add(rng.normal(0.5, 1, 500))
    (numeric,) = evaluate("x", reference, current)
    assert (numeric.method, numeric.test, numeric.effect_method) == ("ks", "ks", "wasserstein")
    assert numeric.p_value == numeric.score  # the same KS test, reused
    assert numeric.effect == pytest.approx(0.5, abs=0.1)
    assert (numeric.significant, numeric.drifted) == (True, True)
    few_ref, few_cur = NumericSketch(), NumericSketch()
    few_ref.add([1.0, 2.0, 3.0] * 100)
    few_cur.add([1.0] * 160 + [2.0, 3.0] * 70)
    (few,) = evaluate("stars", few_ref, few_cur)
    assert (few.method, few.test, few.effect_method) == (
        "chisquare",
        "chisquare_homogeneity",
        "total_variation",
    )
    assert few.effect == pytest.approx(1.6 / 3 - 1 / 3)
    left, right = CategoricalSketch(), CategoricalSketch()
    left.add(["a"] * 2000 + ["b"] * 1000)
    right.add(["a"] * 1900 + ["b"] * 1100)
    (large,) = evaluate("c", left, right)  # significant, but 3 points: under the floor
    assert (large.method, large.test, large.effect_method) == (
        "jensenshannon",
        "chisquare_homogeneity",
        "total_variation",
    )
    assert large.p_value is not None
    assert large.p_value < 0.01
    assert large.effect == pytest.approx(1 / 30)
    assert not large.drifted


def test_forced_distance_is_its_own_effect_and_floors_can_be_tuned() -> None:
    """A forced psi is the effect size (floor 0.1); effect_floors raises a floor."""
    rng = np.random.default_rng(5)
    reference, current = NumericSketch(), NumericSketch()
    reference.add(rng.normal(0, 1, 3000))
    current.add(rng.normal(0.3, 1, 3000))
    (psi,) = evaluate("x", reference, current, "psi")
    assert (psi.effect_method, psi.effect, psi.effect_threshold) == ("psi", psi.score, 0.1)
    (default,) = evaluate("x", reference, current)
    assert (default.method, default.effect_method, default.drifted) == (
        "wasserstein",
        "wasserstein",
        True,
    )
    (strict,) = evaluate("x", reference, current, effect_floors={"wasserstein": 0.5})
    assert (strict.significant, strict.drifted, strict.effect_threshold) == (True, False, 0.5)


def test_embedding_permutation_test_resolves_what_the_family_needs() -> None:
    """family=F resolves p down to alarm_level / F, enough for a lone shift in F features."""
    rng = np.random.default_rng(12)
    reference, current = EmbeddingSketch(8), EmbeddingSketch(8)
    reference.add(rng.normal(0, 1, (150, 8)))
    current.add(rng.normal(0.5, 1, (150, 8)))
    mmd, centroid = evaluate("query", reference, current, family=6)
    assert mmd.p_value == centroid.p_value == 1 / 6001 < ALARM_LEVEL / 6
    others = [replace(mmd, feature=f"f{i}", p_value=0.5) for i in range(5)]  # 5 that stayed
    alarmed = raise_alarms([mmd, centroid, *others])
    assert [d.drifted for d in alarmed] == [True, True] + [False] * 5
    assert alarmed[0].adjusted_p_value == pytest.approx(6 / 6001)
    (unknown, _) = evaluate("query", reference, current)  # no family: the cap's resolution
    assert unknown.p_value == 1 / (1 + MAX_PERMUTATIONS)
