"""Drift report on 20 features x 10,000 rows: vigie vs Evidently's DataDriftPreset; false alarms.

Part 1, speed and parity. Both get the same reference and current frames (10 numeric and 10
categorical features, half of them shifted). vigie's time covers building the sketches from the
raw columns and testing them; Evidently's covers ``Report([DataDriftPreset()]).run(...)``.
Prints both times, the ratio (goal: vigie at least 10x faster) and whether every per-feature
Evidently verdict (vigie's ``significant``) is identical, plus how many features alarm.

Part 2, false alarms (``--controls``, or by default after part 1). A 20-feature model (10
numeric, 10 categorical) on no-shift controls at several window sizes: the share of checks in
which *any* feature fires, under each candidate rule (Evidently's verdicts; raw two-sample
p <= 0.05; Bonferroni and Benjamini–Hochberg at 0.001; the effect floor alone; vigie's alarm,
BH + floor), then the same rules' power on a model where 2 of the 20 features shifted (mean
+0.5 std, 20 points of a category mix). Last, what requiring 3 consecutive checks (the rule's
``for: 15m``) does to Evidently's KS on an hourly window re-checked every 5 minutes.

Part 3 (``--permutations``), the embedding alarm's sequential MMD² permutation test at
``PERMUTATION_ROWS`` (150) vectors per window: its worst case is a shift (no early stop), which
runs until its smallest p-value is below ``ALARM_LEVEL / features``, at most
``MAX_PERMUTATIONS``; against the earlier fixed 4,000 permutations, and a no-shift control.

    .venv/bin/python benchmarks/bench_drift.py              # all parts
    .venv/bin/python benchmarks/bench_drift.py --speed      # part 1 only
    .venv/bin/python benchmarks/bench_drift.py --controls   # part 2 only
    .venv/bin/python benchmarks/bench_drift.py --permutations   # part 3 only
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

from vigie.quality import embeddings
from vigie.quality import numeric as numeric_stats
from vigie.quality.detector import ModelReport, check_model
from vigie.quality.methods import ALARM_LEVEL, METHODS
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


def check(sketches: list[dict[str, Sketch]]) -> dict[str, tuple[str, float, bool, bool]]:
    report = check_model("bench", sketches[0], sketches[1], {}, {})
    return {
        v.feature: (v.method, v.score, v.significant, v.drifted) for v in report.verdicts.values()
    }


def run_vigie(
    reference: dict[str, Any], current: dict[str, Any], numeric: list[str]
) -> dict[str, tuple[str, float, bool, bool]]:
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


def speed() -> int:
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
    same = {name: mine[name][::2][:2] == theirs[name][::2] for name in theirs}
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
    print(f"vigie's alarm: {sum(v[3] for v in mine.values())} features (the 10 shifted ones)")
    return 0 if all(same.values()) and len(same) == FEATURES else 1


# -- part 2: false alarms on controls ---------------------------------------------------------

LABELS = np.array(["a", "b", "c", "d"])
SIZES = [(400, 400), (5000, 100), (2000, 2000), (60, 30)]
SEEDS = 100


BASE_MIX = [0.4, 0.3, 0.2, 0.1]
#: Shifts of num_0 (in std) and cat_0's mix: a real one, and one too small to matter.
SHIFTS = {"shift": (0.5, [0.2, 0.3, 0.2, 0.3]), "tiny": (0.05, [0.37, 0.3, 0.2, 0.13])}


def model_window(rng: np.random.Generator, rows: int, shift: str = "") -> dict[str, Sketch]:
    """10 numeric and 10 categorical features; ``shift`` (a SHIFTS key) moves num_0 and cat_0."""
    move, moved_mix = SHIFTS.get(shift, (0.0, BASE_MIX))
    window: dict[str, Sketch] = {}
    for i in range(10):
        values = (
            rng.normal(move if i == 0 else 0.0, 1.0, rows)
            if i % 2 == 0
            else (rng.lognormal(0.0, 1.0, rows))
        )
        sketch = NumericSketch(seed=0)
        sketch.add(values)
        window[f"num_{i}"] = sketch
        mix = moved_mix if i == 0 else BASE_MIX
        labels = rng.choice(
            LABELS if i % 2 == 0 else LABELS[:2], rows, p=mix if i % 2 == 0 else [0.7, 0.3]
        )
        counts = CategoricalSketch()
        counts.add(labels.tolist())
        window[f"cat_{i}"] = counts
    return window


def rules(report: ModelReport) -> dict[str, set[str]]:
    """Features each candidate rule would flag in this check."""
    verdicts = list(report.verdicts.values())
    count = len(verdicts)
    p = {v.feature: 1.0 if v.p_value is None else v.p_value for v in verdicts}
    q = {v.feature: v.adjusted_p_value or 1.0 for v in verdicts}
    return {
        "evidently": {v.feature for v in verdicts if v.significant},
        "p<=0.05": {f for f, value in p.items() if value <= 0.05},
        "bonferroni": {f for f, value in p.items() if value <= ALARM_LEVEL / count},
        "bh": {f for f, value in q.items() if value <= ALARM_LEVEL},
        "floor": {v.feature for v in verdicts if v.large},
        "bonferroni+floor": {
            v.feature for v in verdicts if v.large and p[v.feature] <= ALARM_LEVEL / count
        },
        "bh+floor (vigie)": {v.feature for v in verdicts if v.drifted},
    }


def controls() -> None:
    print(
        f"\nno-shift controls: 20-feature model, {SEEDS} seeds per size; share of checks in which"
    )
    print("any feature fires (bound of vigie's alarm: 0.1% by construction)")
    names = list(rules(check_model("m", *[model_window(np.random.default_rng(0), 50)] * 2, {}, {})))
    print(f"{'ref/cur rows':>14} " + " ".join(f"{name:>17}" for name in names))
    for reference_rows, current_rows in SIZES:
        fired = dict.fromkeys(names, 0)
        for seed in range(SEEDS):
            rng = np.random.default_rng(seed)
            report = check_model(
                "m", model_window(rng, reference_rows), model_window(rng, current_rows), {}, {}
            )
            for name, found in rules(report).items():
                fired[name] += bool(found)
        label = f"{reference_rows}/{current_rows}"
        print(f"{label:>14} " + " ".join(f"{fired[n] / SEEDS:>17.1%}" for n in names))
    print("\npower: num_0 moved 0.5 std and cat_0 20 points of its mix; share of checks where")
    print("both are flagged (and, in brackets, where an unshifted feature is flagged too).")
    print("'tiny': 0.05 std and 3 points, significant on 5000 rows but below the effect floors")
    print(f"{'ref/cur rows':>14} " + " ".join(f"{name:>17}" for name in names))
    for reference_rows, current_rows, shift in [
        (400, 400, "shift"),
        (5000, 300, "shift"),
        (200, 100, "shift"),
        (5000, 5000, "tiny"),
    ]:
        found_both = dict.fromkeys(names, 0)
        extra = dict.fromkeys(names, 0)
        seeds = SEEDS // 2
        for seed in range(seeds):
            rng = np.random.default_rng(10_000 + seed)
            report = check_model(
                "m",
                model_window(rng, reference_rows),
                model_window(rng, current_rows, shift),
                {},
                {},
            )
            for name, found in rules(report).items():
                found_both[name] += {"num_0", "cat_0"} <= found
                extra[name] += bool(found - {"num_0", "cat_0"})
        label = f"{reference_rows}/{current_rows}" + (" tiny" if shift == "tiny" else "")
        cells = [f"{found_both[n] / seeds:.0%} ({extra[n] / seeds:.0%})" for n in names]
        print(f"{label:>14} " + " ".join(f"{cell:>17}" for cell in cells))
    persistence()


def persistence(days: int = 10, per_bucket: int = 25) -> None:
    """Evidently's KS on an hourly window (12 buckets of 5 min) against 1000 reference values."""
    fired = held = total = 0
    for day in range(days):
        rng = np.random.default_rng(day)
        reference = rng.normal(0.0, 1.0, 1000)
        buckets = [rng.normal(0.0, 1.0, per_bucket) for _ in range(288 + 11)]
        streak = 0
        for end in range(12, len(buckets) + 1):
            current = np.concatenate(buckets[end - 12 : end])
            hit = numeric_stats.ks_pvalue(reference, current) <= 0.05
            streak = streak + 1 if hit else 0
            fired += hit
            held += streak >= 3
            total += 1
    print(
        f"\npersistence: KS p <= 0.05 on {total} checks of an hourly window (300 values) every "
        f"5 min: fires on {fired / total:.1%} of checks; still firing after 3 consecutive checks "
        f"(for: 15m) on {held / total:.1%}: overlapping windows keep the noise, so `for:` "
        "barely helps"
    )


# -- part 3: cost of the embedding's sequential permutation test ------------------------------


def permutation_cost() -> None:
    rows = embeddings.PERMUTATION_ROWS
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(500, 8))
    shifted, same = rng.normal(0.5, 1.0, (500, 8)), rng.normal(size=(500, 8))

    def timed(current: Any, **options: Any) -> tuple[float, embeddings.PermutationTest]:
        times, result = [], None
        for _ in range(REPEATS):
            start = time.perf_counter()
            result = embeddings.mmd_permutation_test(reference, current, **options)
            times.append(time.perf_counter() - start)
        assert result is not None
        return statistics.median(times), result

    peer, _ = timed(shifted, permutations=4000)
    print(f"\nembedding permutation test, {rows} vectors per window (8 dimensions), median of")
    print(f"{REPEATS}; a shift never stops early: the worst case. Peer: 4,000 fixed permutations")
    print(f"  {'case':<26} {'permutations':>12} {'p-value':>10} {'time':>9} {'vs peer':>8}")
    print(
        f"  {'4,000 (earlier, fixed)':<26} {4000:>12,} {'':>10} {peer * 1000:>6.0f} ms {1:>7.1f}x"
    )
    cases: list[tuple[str, Any, dict[str, Any]]] = [
        ("shift, 6 features", shifted, {"min_p": ALARM_LEVEL / 6}),
        ("shift, 20 features", shifted, {"min_p": ALARM_LEVEL / 20}),
        ("shift, unknown: the cap", shifted, {}),
        ("no shift (stops early)", same, {}),
    ]
    for label, current, options in cases:
        seconds, result = timed(current, **options)
        print(
            f"  {label:<26} {result.permutations:>12,} {result.p_value:>10.3g} "
            f"{seconds * 1000:>6.0f} ms {seconds / peer:>7.1f}x"
        )


def main() -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.simplefilter("ignore")
    parts = {"--speed", "--controls", "--permutations"} & set(sys.argv)
    code = 0
    if not parts or "--speed" in parts:
        code = speed()
    if not parts or "--controls" in parts:
        controls()
    if not parts or "--permutations" in parts:
        permutation_cost()
    return code


if __name__ == "__main__":
    sys.exit(main())
