"""Shared helpers of the quality tests: Evidently loaded once, synthetic datasets."""

from __future__ import annotations

import os
import warnings
from types import SimpleNamespace
from typing import Any

import pytest


@pytest.fixture(scope="session")
def evidently() -> Any:
    """Evidently's legacy drift API (what DataDriftPreset runs), imported once, offline."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # evidently's opt-out of usage telemetry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandas as pd
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType
        from evidently.legacy.metrics.data_drift.embedding_drift_methods import (
            DistanceDriftMethod,
            MMDDriftMethod,
        )
    return SimpleNamespace(
        pd=pd,
        get_stattest=get_stattest,
        ColumnType=ColumnType,
        MMDDriftMethod=MMDDriftMethod,
        DistanceDriftMethod=DistanceDriftMethod,
    )
