"""vigie's drift verdicts equal Evidently's defaults on synthetic shifts and no-shift controls.

The parity verdict is ``FeatureDrift.significant`` (Evidently's test alone); ``drifted`` is
vigie's alarm, which must fire on every shift here whose two-sample p-value is at most the alarm
level (0.001); a borderline shift (Evidently's z-test p = 0.0044 on two categories moved 10
points in 400 rows) stays ``significant`` without alarming. See ``test_controls.py`` for the
alarm's false-alarm rate.
Tolerance: while a window fits in a sketch (5,000 values) vigie tests the exact data, so scores
agree to 1e-9 (absolute) and verdicts are identical; on larger windows the numeric sample is a
uniform subset and the normed Wasserstein distance agrees within 0.05.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from vigie.quality.methods import ALARM_LEVEL, FeatureDrift, evaluate
from vigie.quality.sketches import CategoricalSketch, EmbeddingSketch, NumericSketch

EXACT = 1e-9


def _vigie(kind: str, reference: Any, current: Any) -> FeatureDrift:
    if kind == "numeric":
        ref, cur = NumericSketch(seed=1), NumericSketch(seed=2)
    else:
        ref, cur = CategoricalSketch(), CategoricalSketch()
    ref.add(reference)
    cur.add(current)
    return evaluate("f", ref, cur)[0]


def _evidently(evidently: Any, kind: str, reference: Any, current: Any) -> tuple[str, float, bool]:
    column_type = (
        evidently.ColumnType.Numerical if kind == "numeric" else evidently.ColumnType.Categorical
    )
    ref, cur = evidently.pd.Series(reference), evidently.pd.Series(current)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = evidently.get_stattest(ref, cur, column_type, None)
        result = test(ref, cur, column_type, None)
    return test.name, float(result.drift_score), bool(result.drifted)


def _numeric_cases(n: int, rng: np.random.Generator) -> dict[str, tuple[Any, Any]]:
    reference = rng.normal(10.0, 2.0, n)
    return {
        "control": (reference, rng.normal(10.0, 2.0, n)),
        "mean_shift": (reference, rng.normal(11.0, 2.0, n)),
        "variance_change": (reference, rng.normal(10.0, 3.5, n)),
        "small_mean_shift": (reference, rng.normal(10.1, 2.0, n)),
        "few_values": (rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)),
        "few_values_shift": (
            rng.integers(0, 4, n).astype(float),
            rng.choice([0.0, 1.0, 2.0, 3.0], n, p=[0.4, 0.2, 0.2, 0.2]),
        ),
        "binary": (rng.integers(0, 2, n).astype(float), rng.integers(0, 2, n).astype(float)),
    }


def _categorical_cases(n: int, rng: np.random.Generator) -> dict[str, tuple[Any, Any]]:
    labels = np.array(["refund", "billing", "other"])
    reference = rng.choice(labels, n, p=[0.5, 0.3, 0.2])
    return {
        "control": (reference, rng.choice(labels, n, p=[0.5, 0.3, 0.2])),
        "mix_change": (reference, rng.choice(labels, n, p=[0.3, 0.3, 0.4])),
        "new_category": (
            reference,
            rng.choice(
                np.array(["refund", "billing", "other", "cancel"]), n, p=[0.4, 0.25, 0.15, 0.2]
            ),
        ),
        "two_categories": (rng.choice(labels[:2], n), rng.choice(labels[:2], n)),
        "two_categories_shift": (
            rng.choice(labels[:2], n),
            rng.choice(labels[:2], n, p=[0.65, 0.35]),
        ),
    }


@pytest.mark.parametrize("n", [400, 3000], ids=["tests", "distances"])
def test_numeric_verdicts_equal_evidently(evidently: Any, n: int) -> None:
    """Every numeric case gets Evidently's method, score (1e-9) and verdict, small and large."""
    rng = np.random.default_rng(7)
    for case, (reference, current) in _numeric_cases(n, rng).items():
        mine = _vigie("numeric", reference, current)
        name, score, drifted = _evidently(evidently, "numeric", reference, current)
        assert (mine.method, mine.significant) == (name, drifted), case
        assert mine.score == pytest.approx(score, abs=EXACT), case


@pytest.mark.parametrize("n", [400, 3000], ids=["tests", "distances"])
def test_categorical_verdicts_equal_evidently(evidently: Any, n: int) -> None:
    """Every categorical case gets Evidently's method, score (1e-9) and verdict."""
    rng = np.random.default_rng(11)
    for case, (reference, current) in _categorical_cases(n, rng).items():
        mine = _vigie("categorical", reference, current)
        name, score, drifted = _evidently(evidently, "categorical", reference, current)
        assert (mine.method, mine.significant) == (name, drifted), case
        assert mine.score == pytest.approx(score, abs=EXACT), case


def test_expected_verdicts_on_known_shifts(evidently: Any) -> None:
    """The shifts are detected and the controls are not, with the expected methods."""
    rng = np.random.default_rng(3)
    found = {
        case: (drift.method, drift.significant, drift.drifted)
        for case, (ref, cur) in _numeric_cases(3000, rng).items()
        for drift in [_vigie("numeric", ref, cur)]
    }
    assert found["control"] == ("wasserstein", False, False)
    assert found["mean_shift"] == ("wasserstein", True, True)
    assert found["variance_change"] == ("wasserstein", True, True)
    assert found["few_values"] == ("jensenshannon", False, False)
    assert found["few_values_shift"] == ("jensenshannon", True, True)
    small = {
        case: _vigie("categorical", r, c) for case, (r, c) in _categorical_cases(400, rng).items()
    }
    assert (small["new_category"].method, small["new_category"].significant) == ("chisquare", True)
    assert small["new_category"].drifted
    assert (small["two_categories"].method, small["two_categories"].significant) == ("z", False)
    assert not small["two_categories"].drifted


@pytest.mark.parametrize(
    ("n", "alarmed", "borderline"),
    [(400, 17, [(3, "c_two_categories_shift")]), (3000, 18, [])],
    ids=["tests", "distances"],
)
def test_alarm_fires_on_every_shift_evidently_detects_past_the_alarm_level(
    n: int, alarmed: int, borderline: list[tuple[int, str]]
) -> None:
    """Shifts Evidently flags alarm at p <= ALARM_LEVEL, weaker stay visible; controls: never."""
    fired, visible = 0, []
    for seed in (3, 7, 11):
        rng = np.random.default_rng(seed)
        cases = {f"n_{k}": ("numeric", *v) for k, v in _numeric_cases(n, rng).items()} | {
            f"c_{k}": ("categorical", *v) for k, v in _categorical_cases(n, rng).items()
        }
        for case, (kind, reference, current) in cases.items():
            drift = _vigie(kind, reference, current)
            assert drift.p_value is not None
            if case.endswith(("control", "few_values", "binary", "two_categories")):
                assert not drift.drifted, (seed, case, drift)
            elif drift.significant and drift.p_value <= ALARM_LEVEL:
                assert drift.drifted, (seed, case, drift)
                fired += 1
            elif drift.significant:  # borderline: significant for Evidently, p in (0.001, 0.05)
                assert ALARM_LEVEL < drift.p_value < 0.05, (seed, case, drift)
                assert not drift.drifted, (seed, case, drift)
                visible.append((seed, case))
    assert (fired, visible) == (alarmed, borderline)


def test_large_windows_agree_within_tolerance(evidently: Any) -> None:
    """Past the sketch capacity (20,000 rows) the sampled Wasserstein is within 0.05."""
    rng = np.random.default_rng(5)
    for shift in (0.0, 0.5):
        reference, current = rng.normal(0, 1, 20_000), rng.normal(shift, 1, 20_000)
        mine = _vigie("numeric", reference, current)
        name, score, drifted = _evidently(evidently, "numeric", reference, current)
        assert (mine.method, mine.significant, mine.drifted) == (name, drifted, drifted)
        assert mine.score == pytest.approx(score, abs=0.05)


def _embeddings(
    evidently: Any, reference: Any, current: Any
) -> tuple[list[FeatureDrift], Any, Any]:
    ref, cur = EmbeddingSketch(reference.shape[1]), EmbeddingSketch(current.shape[1])
    ref.add(reference)
    cur.add(current)
    mine = evaluate("query", ref, cur)
    pd = evidently.pd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mmd = evidently.MMDDriftMethod()(pd.DataFrame(current), pd.DataFrame(reference))
        distance = evidently.DistanceDriftMethod()(pd.DataFrame(current), pd.DataFrame(reference))
    return mine, mmd, distance


def test_embedding_topic_shift_equals_evidently(evidently: Any) -> None:
    """MMD and centroid distance match Evidently's MMD and distance methods, shift and control."""
    rng = np.random.default_rng(9)
    topics = rng.normal(0, 1, (2, 16))
    reference = topics[0] + rng.normal(0, 1, (300, 16))
    control = topics[0] + rng.normal(0, 1, (300, 16))
    shifted = 0.6 * topics[0] + 0.4 * topics[1] + rng.normal(0, 1, (300, 16))
    for current, expected in ((control, False), (shifted, True)):
        (mmd, centroid), their_mmd, their_distance = _embeddings(evidently, reference, current)
        assert (mmd.method, centroid.method) == ("mmd", "centroid")
        assert mmd.score == pytest.approx(float(their_mmd[0]), abs=1e-9)
        assert mmd.significant == bool(their_mmd[1]) == expected
        assert mmd.drifted == centroid.drifted == expected  # the alarm: MMD² and permutation test
        assert centroid.score == pytest.approx(float(their_distance[0]), abs=1e-9)
        assert centroid.significant == bool(their_distance[1])


@pytest.mark.parametrize("n", [400, 1500], ids=["tests", "distances"])
def test_data_drift_preset_report_equals_vigie_report(evidently: Any, n: int) -> None:
    """Evidently's DataDriftPreset and vigie give the same methods, scores and drift share."""
    import re

    from vigie.quality.detector import check_model

    pd = evidently.pd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    rng = np.random.default_rng(21)
    numeric = _numeric_cases(n, rng)
    categorical = _categorical_cases(n, rng)
    reference = {f"n_{k}": v[0] for k, v in numeric.items()} | {
        f"c_{k}": v[0] for k, v in categorical.items()
    }
    current = {f"n_{k}": v[1] for k, v in numeric.items()} | {
        f"c_{k}": v[1] for k, v in categorical.items()
    }
    sketches: list[dict[str, Any]] = [{}, {}]
    for side, data in enumerate((reference, current)):
        for name, column in data.items():
            sketch = NumericSketch() if name.startswith("n_") else CategoricalSketch()
            sketch.add(column)
            sketches[side][name] = sketch
    mine = check_model("m", sketches[0], sketches[1], {}, {})
    definition = DataDefinition(
        numerical_columns=[n for n in reference if n.startswith("n_")],
        categorical_columns=[n for n in reference if n.startswith("c_")],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(pd.DataFrame(current), data_definition=definition),
            Dataset.from_pandas(pd.DataFrame(reference), data_definition=definition),
        )
    names = {
        "K-S p_value": "ks",
        "Wasserstein distance (normed)": "wasserstein",
        "Jensen-Shannon distance": "jensenshannon",
        "chi-square p_value": "chisquare",
        "Z-test p_value": "z",
    }
    share = None
    theirs = {}
    for metric in snapshot.dict()["metrics"]:
        found = re.match(r"ValueDrift\(column=(.+),method=(.+),threshold=", metric["metric_name"])
        if found:
            theirs[found.group(1)] = (names[found.group(2)], float(metric["value"]))
        elif metric["metric_name"].startswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    verdicts = mine.verdicts
    assert set(theirs) == set(verdicts)
    for name, (method, score) in theirs.items():
        assert verdicts[name].method == method, name
        assert verdicts[name].score == pytest.approx(score, abs=EXACT), name
    assert mine.significant_share == pytest.approx(share)


def test_forced_psi_equals_evidently_psi(evidently: Any) -> None:
    """PSI (available on request) equals Evidently's psi stattest, binned and per category."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently.legacy.calculations.stattests import psi_stat_test
    rng = np.random.default_rng(13)
    cases = {
        "numeric": (rng.normal(0, 1, 1500), rng.normal(0.3, 1.2, 1500)),
        "categorical": _categorical_cases(1500, rng)["mix_change"],
    }
    for kind, (reference, current) in cases.items():
        sketches: list[Any] = []
        for values in (reference, current):
            sketch = NumericSketch() if kind == "numeric" else CategoricalSketch()
            sketch.add(values)
            sketches.append(sketch)
        (mine,) = evaluate("f", sketches[0], sketches[1], "psi")
        column_type = getattr(
            evidently.ColumnType, "Numerical" if kind == "numeric" else "Categorical"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = psi_stat_test(
                evidently.pd.Series(reference), evidently.pd.Series(current), column_type, None
            )
        assert mine.score == pytest.approx(float(theirs.drift_score), abs=EXACT), kind
        assert mine.significant == bool(theirs.drifted), kind
