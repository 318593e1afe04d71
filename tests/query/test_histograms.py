"""Classic-bucket quantiles: the vectorised path equals the per-step reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigie.query.histograms import bucket_fraction, bucket_quantile, quantile_steps


def test_quantile_interpolates_in_bucket() -> None:
    """The rank falls in (0.1, 0.5]: linear interpolation inside it."""
    buckets = [(0.1, 10.0), (0.5, 60.0), (math.inf, 100.0)]
    assert bucket_quantile(0.5, buckets) == (pytest.approx(0.1 + 0.4 * 40 / 50), False)


def test_quantile_edge_cases() -> None:
    """q outside [0, 1], no +Inf bucket, no observations, and the +Inf bucket itself."""
    buckets = [(1.0, 5.0), (math.inf, 10.0)]
    assert bucket_quantile(-1, buckets)[0] == -math.inf
    assert bucket_quantile(2, buckets)[0] == math.inf
    assert math.isnan(bucket_quantile(0.5, [(1.0, 5.0)])[0])
    assert math.isnan(bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)])[0])
    assert bucket_quantile(0.99, buckets)[0] == 1.0


def test_non_monotonic_buckets_are_fixed_and_reported() -> None:
    """A bucket smaller than the one below it is raised, and the result says so."""
    value, forced = bucket_quantile(0.5, [(1.0, 10.0), (2.0, 5.0), (math.inf, 20.0)])
    assert forced
    assert value == pytest.approx(1.0)


def test_fraction_between_bounds() -> None:
    """histogram_fraction interpolates linearly inside buckets; the first starts at 0."""
    buckets = [(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (math.inf, 100.0)]
    assert bucket_fraction(0, 1.5, buckets)[0] == pytest.approx(0.02)


def test_vectorised_quantiles_match_reference() -> None:
    """quantile_steps gives bucket_quantile's answer at every step, on random inputs."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        size = int(rng.integers(1, 7))
        bounds = np.sort(rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0, 5.0, math.inf], size))
        if rng.random() < 0.8:
            bounds[-1] = math.inf
        steps = 6
        counts = np.cumsum(rng.integers(0, 4, (size, steps)), axis=0).astype(float)
        if rng.random() < 0.3:
            counts[int(rng.integers(0, size))] -= 2
        q = rng.choice([-0.5, 0.0, 0.25, 0.5, 0.9, 1.0, 1.5, math.nan], steps)
        values, forced = quantile_steps(q, bounds, counts)
        for step in range(steps):
            buckets = [(float(b), float(c)) for b, c in zip(bounds, counts[:, step], strict=True)]
            expected, expected_forced = bucket_quantile(float(q[step]), buckets)
            got = float(values[step])
            assert (math.isnan(expected) and math.isnan(got)) or expected == pytest.approx(got)
            assert bool(forced[step]) == expected_forced
