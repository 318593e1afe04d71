"""Drift and quality signals: sketches per window, Evidently's tests, series in the store.

The server runs a :class:`QualityService`: the SDK's sample batches go to ``ingest``, a schedule
calls ``run_checks`` (which writes ``vigie_drift_*`` and ``vigie_quality_*`` series), and
``report`` gives the last verdicts as plain data. Each feature gets Evidently's verdict
(``significant``, for parity) and a drift alarm (``drifted``, :mod:`vigie.quality.alarm`) that
stays quiet on unchanged data. See ``docs/quality.md``.
"""

from vigie.quality.detector import ModelReport
from vigie.quality.methods import (
    ALARM_LEVEL,
    DRIFT_SHARE,
    METHODS,
    FeatureDrift,
    Method,
    select_method,
)
from vigie.quality.service import QualityService
from vigie.quality.windows import ReferenceSpec, Window, WindowSettings

__all__ = [
    "ALARM_LEVEL",
    "DRIFT_SHARE",
    "METHODS",
    "FeatureDrift",
    "Method",
    "ModelReport",
    "QualityService",
    "ReferenceSpec",
    "Window",
    "WindowSettings",
    "select_method",
]
