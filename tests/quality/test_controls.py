"""No false alarm on no-shift controls over 100 seeds at the stated thresholds."""

from __future__ import annotations

import numpy as np

from vigie.quality.detector import check_model
from vigie.quality.sketches import CategoricalSketch, EmbeddingSketch, NumericSketch, Sketch

LABELS = np.array(["a", "b", "c", "d"])


def _window(rng: np.random.Generator) -> dict[str, Sketch]:
    """One window of a model with five features, all drawn from the same distributions."""
    large, small = NumericSketch(), NumericSketch()
    large.add(rng.normal(5.0, 2.0, 5000))
    small.add(rng.lognormal(0.0, 1.0, 400))
    mix, few = CategoricalSketch(), CategoricalSketch()
    mix.add(rng.choice(LABELS, 5000, p=[0.4, 0.3, 0.2, 0.1]).tolist())
    few.add(rng.choice(LABELS, 400, p=[0.4, 0.3, 0.2, 0.1]).tolist())
    vectors = EmbeddingSketch(8)
    vectors.add(rng.normal(0.0, 1.0, (150, 8)))
    return {"large": large, "small": small, "mix": mix, "few": few, "vectors": vectors}


def test_no_false_alarm_over_100_seeds() -> None:
    """Distance tests never fire, KS fires near its 5% level, the model never drifts."""
    fired: dict[str, int] = {}
    model_drifted = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        report = check_model("m", _window(rng), _window(rng), {}, {})
        for feature, verdict in report.verdicts.items():
            fired[feature] = fired.get(feature, 0) + verdict.drifted
        model_drifted += report.drifted
    methods = {v.feature: v.method for v in report.verdicts.values()}
    assert methods == {
        "large": "wasserstein",
        "mix": "jensenshannon",
        "vectors": "mmd",
        "small": "ks",
        "few": "chisquare",
    }
    assert fired["large"] == fired["mix"] == fired["vectors"] == 0
    # KS at 0.05 fires on ~5 of 100 controls by construction; 12 is the binomial 99.9% bound.
    assert fired["small"] <= 12
    # Evidently's chi-square takes the reference mix as exact (expected = reference counts
    # scaled), which doubles the statistic's variance at equal window sizes: ~27% of controls
    # fire (P(chi2_3 > 3.9)). vigie keeps that default for parity; docs/quality.md says so.
    assert 10 <= fired["few"] <= 45
    assert model_drifted == 0
