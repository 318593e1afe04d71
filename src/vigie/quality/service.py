"""The quality service the server runs: ingest sample batches, check on a schedule, report.

It owns the per-model histories, persists them under ``<data_dir>/quality/state.json`` (written
atomically by a check at most every ``save_interval`` seconds, when a reference changes, and on
:meth:`QualityService.save`), so a restart keeps buckets and reference windows. The server
wires three things: ``ingest`` behind ``POST /api/v1/quality/samples``, ``run_checks`` on a
schedule (every minute is plenty), and ``report`` behind a read endpoint and the UI page; it
calls :meth:`QualityService.save` on shutdown.

Example::

    >>> import tempfile
    >>> from vigie.store.memory import MemoryStorage
    >>> storage = MemoryStorage()
    >>> service = QualityService(tempfile.mkdtemp(), storage.appender, clock=lambda: 7200.0)
    >>> service.ingest({"samples": [{"model": "m", "time": 7100, "numeric": {"x": 1.0}}]})
    1
    >>> [model["model"] for model in service.run_checks()["models"]]
    ['m']
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vigie.exceptions import ConfigurationError, PayloadError
from vigie.quality.detector import ModelReport, check_model, write_series
from vigie.quality.history import ModelHistory
from vigie.quality.ingest import parse_batch
from vigie.quality.methods import ALARM_LEVEL, DRIFT_SHARE, EFFECT_FLOORS, METHODS
from vigie.quality.sketches import CategoricalSketch, EmbeddingSketch, NumericSketch, Sketch
from vigie.quality.windows import ReferenceSpec, WindowSettings
from vigie.store.interface import Appender

__all__ = ["MAX_MODELS", "STATE_FILE", "QualityService"]

STATE_FILE = "quality/state.json"
#: Models tracked at most (bounded memory); a batch introducing more is refused.
MAX_MODELS = 200


class QualityService:
    """Drift and quality monitoring of every model that sends samples.

    ``appender_factory`` returns a fresh store appender per check; ``clock`` returns Unix
    seconds (injected so tests and replays control time). ``alarm_level`` (default 0.001) and
    ``effect_floors`` (``{"wasserstein": 0.2}``: floors by effect size) tune the drift alarm
    (:mod:`vigie.quality.alarm`); ``methods`` forces a test per feature.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        appender_factory: Callable[[], Appender],
        clock: Callable[[], float] = time.time,
        *,
        settings: WindowSettings | None = None,
        low_confidence_threshold: float = 0.5,
        drift_share: float = DRIFT_SHARE,
        methods: Mapping[str, str] | None = None,
        save_interval: float = 300.0,
        alarm_level: float = ALARM_LEVEL,
        effect_floors: Mapping[str, float] | None = None,
    ) -> None:
        self.path = Path(data_dir) / STATE_FILE
        self.appender_factory = appender_factory
        self.clock = clock
        self.settings = settings or WindowSettings()
        self.low_confidence_threshold = low_confidence_threshold
        self.drift_share = drift_share
        unknown = sorted(set((methods or {}).values()) - set(METHODS))
        if unknown:
            raise ConfigurationError(f"unknown drift method {unknown[0]!r}", field="methods")
        self.methods = dict(methods or {})
        if not 0.0 < alarm_level < 1.0:
            raise ConfigurationError(
                f"the alarm level must be between 0 and 1, got {alarm_level!r}", field="alarm_level"
            )
        floors = dict(effect_floors or {})
        unfloored = sorted(set(floors) - set(EFFECT_FLOORS))
        if unfloored:
            raise ConfigurationError(
                f"{unfloored[0]!r} is not an effect size (one of {', '.join(EFFECT_FLOORS)})",
                field="effect_floors",
            )
        self.alarm_level = alarm_level
        self.effect_floors = floors
        self.save_interval = save_interval
        self._saved_at = -math.inf
        self.models: dict[str, ModelHistory] = {}
        self._last: dict[str, Any] = {"time": None, "models": []}
        self._lock = threading.Lock()
        self._load()

    # -- ingest ---------------------------------------------------------------------------------

    def ingest(self, batch: bytes | str | Mapping[str, Any]) -> int:
        """Validate and fold a batch in; returns how many samples were accepted.

        Raises :class:`~vigie.exceptions.PayloadError` (naming the field) and keeps nothing
        of a bad batch.
        """
        samples = parse_batch(batch)
        now = self.clock()
        by_model: dict[str, list[Any]] = {}
        for sample in samples:
            if sample.time is None or sample.time > now + self.settings.bucket_seconds:
                sample.time = now  # a clock ahead of ours must not create buckets in the future
            by_model.setdefault(sample.model, []).append(sample)
        with self._lock:
            new = sorted(set(by_model) - set(self.models))
            if new and len(self.models) + len(new) > MAX_MODELS:
                raise PayloadError(
                    f"model: {new[0]!r} would exceed the limit of {MAX_MODELS} models",
                    source="quality samples",
                )
            for model, group in by_model.items():
                history = self.models.setdefault(model, ModelHistory())
                history.add(group, self.settings, self.low_confidence_threshold)
        return len(samples)

    # -- checks ---------------------------------------------------------------------------------

    def run_checks(self, now: float | None = None) -> dict[str, Any]:
        """Check every model, write the series, prune old buckets, save; returns the report."""
        now = self.clock() if now is None else now
        with self._lock:
            reports = self._check(now)
            for history in self.models.values():
                history.prune(self.settings, now)
            self._last = {"time": now, "models": [self._describe(r, now) for r in reports]}
            if now - self._saved_at >= self.save_interval:
                self._save()
                self._saved_at = now
        write_series(reports, self.appender_factory(), int(now * 1000))
        return self._last

    def evaluate(self, now: float | None = None) -> dict[str, Any]:
        """The report a check would give now, without writing series or saving (for the CLI)."""
        now = self.clock() if now is None else now
        with self._lock:
            reports = self._check(now)
            return {"time": now, "models": [self._describe(r, now) for r in reports]}

    def _check(self, now: float) -> list[ModelReport]:
        reports = []
        for model in sorted(self.models):
            history = self.models[model]
            reference, reference_counters = history.reference_window(self.settings, now)
            current, current_counters = history.window(self.settings.current(now))
            reports.append(
                check_model(
                    model,
                    reference,
                    current,
                    reference_counters,
                    current_counters,
                    methods=self.methods,
                    drift_share=self.drift_share,
                    alarm_level=self.alarm_level,
                    effect_floors=self.effect_floors,
                )
            )
        return reports

    def _describe(self, report: ModelReport, now: float) -> dict[str, Any]:
        data = report.as_dict()
        history = self.models[report.model]
        window = self.settings.reference(history.reference, now)
        data["reference"] = {
            **history.reference.as_dict(),
            "window": [window.start, window.end],
            "frozen": history.frozen is not None,
        }
        return data

    def report(self) -> dict[str, Any]:
        """The last check's report, plain data: ``{"time", "models": [{model, features...}]}``."""
        with self._lock:
            return json.loads(json.dumps(self._last))  # type: ignore[no-any-return]

    # -- reference windows ----------------------------------------------------------------------

    def set_reference(self, model: str, start: float, end: float) -> dict[str, Any]:
        """Mark ``[start, end)`` as the good period of ``model``; frozen once it is over."""
        if not end > start:
            raise ConfigurationError("the reference window must end after it starts", field="to")
        with self._lock:
            history = self.models.setdefault(model, ModelHistory())
            history.set_reference(ReferenceSpec("fixed", start, end))
            _, counters = history.reference_window(self.settings, self.clock())
            self._save()
            return {"model": model, "start": start, "end": end, "samples": counters["samples"]}

    def reset_reference(self, model: str) -> None:
        """Go back to the trailing reference window for ``model``."""
        with self._lock:
            self.models.setdefault(model, ModelHistory()).set_reference(ReferenceSpec())
            self._save()

    # -- data for the UI ------------------------------------------------------------------------

    def distributions(self, model: str, feature: str, bins: int = 20) -> dict[str, Any]:
        """Reference vs current distribution of one feature, as plain data for a chart.

        Numeric: common bin edges and each window's share per bin; categorical: categories and
        shares; embedding: the two centroids' distance only (vectors are not shown).
        """
        now = self.clock()
        with self._lock:
            history = self.models.get(model)
            if history is None:
                raise ConfigurationError(f"no samples for model {model!r}", field="model")
            reference, _ = history.reference_window(self.settings, now)
            current, _ = history.window(self.settings.current(now))
        return _distribution(feature, reference.get(feature), current.get(feature), bins)

    # -- persistence ----------------------------------------------------------------------------

    def save(self) -> None:
        """Write the state now (the server calls it on shutdown)."""
        with self._lock:
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "version": 1,
            "models": {name: history.to_dict() for name, history in self.models.items()},
            "last": self._last,
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.path)

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            self.models = {
                name: ModelHistory.from_dict(raw) for name, raw in state["models"].items()
            }
            self._last = state.get("last") or self._last
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(
                f"unreadable quality state ({error})", path=str(self.path)
            ) from None


def _distribution(
    feature: str, reference: Sketch | None, current: Sketch | None, bins: int
) -> dict[str, Any]:
    data: dict[str, Any] = {"feature": feature}
    if isinstance(reference, NumericSketch) and isinstance(current, NumericSketch):
        low = min(reference.minimum, current.minimum)
        high = max(reference.maximum, current.maximum)
        edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
        for name, sketch in (("reference", reference), ("current", current)):
            counts = np.histogram(sketch.sample(), edges)[0]
            data[name] = (counts / max(counts.sum(), 1)).tolist()
        data.update(kind="numeric", edges=edges.tolist())
    elif isinstance(reference, CategoricalSketch) and isinstance(current, CategoricalSketch):
        categories = sorted(set(reference.counts) | set(current.counts))
        for name, counted in (("reference", reference), ("current", current)):
            total = max(counted.count, 1)
            data[name] = [counted.counts.get(key, 0) / total for key in categories]
        data.update(kind="categorical", categories=categories)
    elif isinstance(reference, EmbeddingSketch) and isinstance(current, EmbeddingSketch):
        distance = float(np.linalg.norm(current.centroid - reference.centroid))
        data.update(kind="embedding", centroid_distance=distance)
    else:
        data["kind"] = "missing"
    return data
