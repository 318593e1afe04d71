"""Drift report on 20 features x 10,000 rows: vigie vs Evidently's DataDriftPreset.

Both get the same reference and current frames (10 numeric and 10 categorical features, half of
them shifted). vigie's time covers building the sketches from the raw columns and testing them;
Evidently's covers ``Report([DataDriftPreset()]).run(...)``. Prints both times, the ratio
(goal: vigie at least 10x faster) and whether every per-feature verdict is identical.

    .venv/bin/python benchmarks/bench_drift.py
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

from vigie.quality.detector import check_model
from vigie.quality.methods import METHODS
from vigie.quality.sketches import CategoricalSketch, NumericSketch, Sketch

ROWS = 10_000
FEATURES = 20
REPEATS = 3
# Evidently's display names of the default methods, to map its metric names back.
DISPLAY = {
    "K-S p_value": "ks",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
}


def frames(seed: int = 0) -> tuple[dict[str, Any], dict[str, Any], list[str], list[str]]:
    rng = np.random.default_rng(seed)
    reference: dict[str, Any] = {}
    current: dict[str, Any] = {}
    numeric = [f"num_{i}" for i in range(FEATURES // 2)]
    categorical = [f"cat_{i}" for i in range(FEATURES // 2)]
    for i, name in enumerate(numeric):
        reference[name] = rng.normal(10 * i, 1 + i, ROWS)
        shift = (0.5 * (1 + i)) if i % 2 else 0.0  # odd features shift by half a std
        current[name] = rng.normal(10 * i + shift, 1 + i, ROWS)
    labels = np.array(["a", "b", "c", "d", "e"])
    for i, name in enumerate(categorical):
        base = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
        moved = base[::-1] if i % 2 else base
        reference[name] = rng.choice(labels, ROWS, p=base)
        current[name] = rng.choice(labels, ROWS, p=moved)
    return reference, current, numeric, categorical


def build_sketches(
    reference: dict[str, Any], current: dict[str, Any], numeric: list[str]
) -> list[dict[str, Sketch]]:
    sketches: list[dict[str, Sketch]] = [{}, {}]
    for side, data in enumerate((reference, current)):
        for name, column in data.items():
            sketch: Sketch = NumericSketch() if name in numeric else CategoricalSketch()
            sketch.add(column if isinstance(sketch, NumericSketch) else column.tolist())
            sketches[side][name] = sketch
    return sketches


def check(sketches: list[dict[str, Sketch]]) -> dict[str, tuple[str, float, bool]]:
    report = check_model("bench", sketches[0], sketches[1], {}, {})
    return {v.feature: (v.method, v.score, v.drifted) for v in report.verdicts.values()}


def run_vigie(
    reference: dict[str, Any], current: dict[str, Any], numeric: list[str]
) -> dict[str, tuple[str, float, bool]]:
    return check(build_sketches(reference, current, numeric))


def run_evidently(
    reference: dict[str, Any], current: dict[str, Any], numeric: list[str], categorical: list[str]
) -> dict[str, tuple[str, float, bool]]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(pd.DataFrame(current), data_definition=definition),
        Dataset.from_pandas(pd.DataFrame(reference), data_definition=definition),
    )
    found = {}
    for metric in snapshot.dict()["metrics"]:
        match = re.match(
            r"ValueDrift\(column=(.+),method=(.+),threshold=(.+)\)", metric["metric_name"]
        )
        if match:
            method = DISPLAY[match.group(2)]
            score = float(metric["value"])
            found[match.group(1)] = (method, score, METHODS[method].drifted(score))
    return found


def main() -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.simplefilter("ignore")
    reference, current, numeric, categorical = frames()
    run_evidently(reference, current, numeric, categorical)  # warm the imports
    vigie_times, evidently_times = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        mine = run_vigie(reference, current, numeric)
        vigie_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = run_evidently(reference, current, numeric, categorical)
        evidently_times.append(time.perf_counter() - start)
    sketches = build_sketches(reference, current, numeric)
    check_times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        check(sketches)
        check_times.append(time.perf_counter() - start)
    vigie_s, evidently_s = statistics.median(vigie_times), statistics.median(evidently_times)
    same = {name: mine[name][::2] == theirs[name][::2] for name in theirs}
    worst = max(abs(mine[name][1] - theirs[name][1]) for name in theirs)
    print(f"features={FEATURES} rows={ROWS} (reference and current each), median of {REPEATS}")
    print(f"vigie     {vigie_s * 1000:9.1f} ms  (sketches built from the raw columns + check)")
    print(f"  check   {statistics.median(check_times) * 1000:9.1f} ms  (check alone, as each run)")
    print(f"evidently {evidently_s * 1000:9.1f} ms  (Report([DataDriftPreset()]).run)")
    print(f"ratio     {evidently_s / vigie_s:9.1f}x faster (goal >= 10x)")
    print(
        f"verdicts identical: {all(same.values())} ({sum(same.values())}/{len(same)} features); "
        f"drifted: {sum(v[2] for v in mine.values())}; max score difference {worst:.2e}"
    )
    return 0 if all(same.values()) and len(same) == FEATURES else 1


if __name__ == "__main__":
    sys.exit(main())
