"""The drift alarm: Benjamini–Hochberg across a model's features, and the effect floor."""

from __future__ import annotations

import pytest

from vigie.quality.alarm import benjamini_hochberg, raise_alarms
from vigie.quality.methods import ALARM_LEVEL, FeatureDrift


def _drift(feature: str, p_value: float | None, effect: float, method: str = "ks") -> FeatureDrift:
    return FeatureDrift(
        feature,
        "numeric",
        method,
        0.0,
        0.05,
        False,
        100,
        100,
        test="ks",
        p_value=p_value,
        adjusted_p_value=p_value,
        effect_method="wasserstein",
        effect=effect,
        effect_threshold=0.1,
    )


def test_benjamini_hochberg_adjusted_values() -> None:
    """q_(i) = min over j >= i of p_(j) m / j, in input order, capped at 1, None counting as 1."""
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.2]) == pytest.approx(
        [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2]
    )
    assert benjamini_hochberg([0.5, None, 0.9]) == pytest.approx([1.0, 1.0, 1.0])
    assert benjamini_hochberg([0.001]) == [0.001]
    assert benjamini_hochberg([]) == []


def test_alarm_needs_significance_after_correction_and_a_large_effect() -> None:
    """p 0.0008 alone alarms at 0.001; among four features its q is 0.0032 and it does not."""
    assert ALARM_LEVEL == 0.001
    (alone,) = raise_alarms([_drift("a", 0.0008, 0.3)])
    assert alone.drifted
    assert alone.adjusted_p_value == 0.0008
    family = raise_alarms(
        [_drift("a", 0.0008, 0.3), _drift("b", 0.5, 0.3), _drift("c", 0.6, 0.3), _drift("d", 1, 0)]
    )
    assert [d.drifted for d in family] == [False] * 4
    assert family[0].adjusted_p_value == pytest.approx(0.0032)
    # 0.0012 is significant for Evidently (< 0.05) but past the level: visible, no alarm.
    (borderline,) = raise_alarms([_drift("a", 0.0012, 0.3)])
    assert not borderline.drifted
    assert raise_alarms([_drift("a", 0.0012, 0.3)], level=0.005)[0].drifted  # a looser level
    pair = raise_alarms([_drift("a", 0.0004, 0.3), _drift("b", 0.0009, 0.3)])
    assert [d.adjusted_p_value for d in pair] == pytest.approx([0.0008, 0.0009])
    assert [d.drifted for d in pair] == [True, True]  # step-up: b rides on rank 2 (0.0009 x 2 / 2)
    strong = raise_alarms([_drift("a", 1e-9, 0.3), _drift("b", 1e-9, 0.05)])
    assert [d.drifted for d in strong] == [True, False]  # b: significant but tiny
    assert raise_alarms([_drift("a", 1e-9, 0.3)], level=1e-10)[0].drifted is False


def test_rows_of_one_feature_share_its_alarm_and_a_missing_p_value_counts_as_one() -> None:
    """An embedding's MMD and centroid rows alarm together; p None never alarms."""
    mmd = _drift("query", 1e-4, 0.3, "mmd")
    centroid = _drift("query", 1e-4, 0.3, "centroid")
    skipped = _drift("other", None, 0.0)
    result = raise_alarms([mmd, centroid, skipped])
    assert [d.drifted for d in result] == [True, True, False]
    assert result[0].adjusted_p_value == pytest.approx(2e-4)
    assert result[2].adjusted_p_value is None
