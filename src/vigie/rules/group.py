"""Rule groups: rules evaluated in order, on a schedule aligned like Prometheus's.

A group evaluates its rules one after the other at each tick (a recording rule's output is
visible to the rules after it), writes their samples through the store's appender, and writes a
staleness marker for every series a rule returned last time but not this time, so queries stop
seeing it at once instead of after the 5-minute lookback. Ticks are spread like Prometheus's
``Group.EvalTimestamp``: each group has a fixed offset inside its interval, derived from the hash
of its file and name, so that groups do not all run at the same instant and a restart keeps the
same phase.

Example::

    >>> from vigie.query.result import InstantVector, Sample
    >>> from vigie.rules.rule_file import RecordingRuleSpec, RuleGroupSpec
    >>> from vigie.store.memory import MemoryStorage
    >>> spec = RuleGroupSpec("g", (RecordingRuleSpec("two", "1 + 1"),), interval_ms=60_000)
    >>> group = RuleGroup(spec)
    >>> storage = MemoryStorage()
    >>> group.evaluate(60_000, lambda e, t: InstantVector([Sample({}, t, 2.0)]), storage)
    >>> storage.querier().select([], 0, 60_000)[0].labels
    {'__name__': 'two'}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from vigie.exceptions import StoreError, VigieError
from vigie.query.result import Sample
from vigie.rules.alerting import Alert, AlertingRule, QueryFunction
from vigie.rules.recording import RecordingRule
from vigie.rules.rule_file import AlertingRuleSpec, RuleGroupSpec
from vigie.store.interface import STALE_NAN, LabelPairs, Querier, Storage, label_pairs

__all__ = [
    "DEFAULT_FOR_GRACE_PERIOD_MS",
    "DEFAULT_INTERVAL_MS",
    "DEFAULT_OUTAGE_TOLERANCE_MS",
    "DEFAULT_RESEND_DELAY_MS",
    "NotifyFunction",
    "Rule",
    "RuleGroup",
    "xxhash64",
]

logger = logging.getLogger("vigie.rules")
# A library logs, the application decides where: no "last resort" output on stderr.
logger.addHandler(logging.NullHandler())

DEFAULT_INTERVAL_MS = 60_000
#: Prometheus's ``--rules.alert.resend-delay``.
DEFAULT_RESEND_DELAY_MS = 60_000
#: ``--rules.alert.for-outage-tolerance``: older ALERTS_FOR_STATE is not restored.
DEFAULT_OUTAGE_TOLERANCE_MS = 3_600_000
#: ``--rules.alert.for-grace-period``: a restored alert never fires sooner than this.
DEFAULT_FOR_GRACE_PERIOD_MS = 600_000

Rule = AlertingRule | RecordingRule
#: Receives the alerts due for (re-)sending after each evaluation of an alerting rule.
NotifyFunction = Callable[[str, list[Alert]], None]

_MASK = (1 << 64) - 1
_P1, _P2, _P3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
_P4, _P5 = 9650029242287828579, 2870177450012600261


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _MASK, 31) * _P1) & _MASK


def xxhash64(data: bytes, seed: int = 0) -> int:
    """XXH64, the hash Prometheus's ``labels.Hash`` uses (cespare/xxhash)."""
    length, index = len(data), 0
    if length >= 32:
        v1, v2 = (seed + _P1 + _P2) & _MASK, (seed + _P2) & _MASK
        v3, v4 = seed, (seed - _P1) & _MASK
        while index + 32 <= length:
            lanes = [
                int.from_bytes(data[index + 8 * i : index + 8 * i + 8], "little") for i in range(4)
            ]
            v1, v2 = _round(v1, lanes[0]), _round(v2, lanes[1])
            v3, v4 = _round(v3, lanes[2]), _round(v4, lanes[3])
            index += 32
        acc = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _MASK
        for lane in (v1, v2, v3, v4):
            acc = ((acc ^ _round(0, lane)) * _P1 + _P4) & _MASK
    else:
        acc = (seed + _P5) & _MASK
    acc = (acc + length) & _MASK
    while index + 8 <= length:
        lane = int.from_bytes(data[index : index + 8], "little")
        acc = (_rotl(acc ^ _round(0, lane), 27) * _P1 + _P4) & _MASK
        index += 8
    if index + 4 <= length:
        lane = int.from_bytes(data[index : index + 4], "little")
        acc = (_rotl(acc ^ (lane * _P1 & _MASK), 23) * _P2 + _P3) & _MASK
        index += 4
    while index < length:
        acc = (_rotl(acc ^ (data[index] * _P5 & _MASK), 11) * _P1) & _MASK
        index += 1
    acc ^= acc >> 33
    acc = (acc * _P2) & _MASK
    acc ^= acc >> 29
    acc = (acc * _P3) & _MASK
    return acc ^ (acc >> 32)


class RuleGroup:
    """A group of rules with its schedule, its last evaluation and its rules' state."""

    def __init__(
        self,
        spec: RuleGroupSpec,
        *,
        default_interval_ms: int = DEFAULT_INTERVAL_MS,
        default_query_offset_ms: int = 0,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        restore: bool = False,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.file = spec.path
        self.interval_ms = spec.interval_ms or default_interval_ms
        self.query_offset_ms = (
            spec.query_offset_ms if spec.query_offset_ms is not None else default_query_offset_ms
        )
        self.limit = spec.limit
        self.rules: list[Rule] = []
        for rule_spec in spec.rules:
            if isinstance(rule_spec, AlertingRuleSpec):
                self.rules.append(
                    AlertingRule(
                        rule_spec,
                        group_labels=spec.labels,
                        external_labels=external_labels,
                        external_url=external_url,
                        restored=not restore,
                    )
                )
            else:
                self.rules.append(RecordingRule(rule_spec, group_labels=spec.labels))
        #: Series each rule wrote at the previous evaluation, to mark the vanished ones stale.
        self._previous: list[dict[LabelPairs, dict[str, str]]] = [{} for _ in self.rules]
        self.should_restore = restore
        self.last_evaluation: int | None = None
        self.evaluation_seconds = 0.0
        #: Rule evaluations done and failed (Prometheus's rule_evaluations_total, per group).
        self.rule_evaluations = 0
        self.rule_evaluation_failures = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.file, self.name)

    def hash(self) -> int:
        """Prometheus's ``Group.hash()``: the hash of the labels ``{file=..., name=...}``."""
        data = b"file\xff" + self.file.encode() + b"\xffname\xff" + self.name.encode() + b"\xff"
        return xxhash64(data)

    def eval_timestamp(self, now_ms: int) -> int:
        """The latest scheduled evaluation time at or before ``now_ms`` (``EvalTimestamp``)."""
        interval_ns = self.interval_ms * 1_000_000
        offset_ns = self.hash() % interval_ns
        # A millisecond covers a million nanoseconds: take its end, so that a tick (truncated to
        # milliseconds, as Prometheus stores it) maps back to itself.
        adjusted = now_ms * 1_000_000 + 999_999 - offset_ns
        base = adjusted - adjusted % interval_ns
        return (base + offset_ns) // 1_000_000

    def alerting_rules(self) -> list[AlertingRule]:
        return [rule for rule in self.rules if isinstance(rule, AlertingRule)]

    def evaluate(
        self,
        ts_ms: int,
        query: QueryFunction,
        storage: Storage | None = None,
        *,
        notify: NotifyFunction | None = None,
        resend_delay_ms: int = DEFAULT_RESEND_DELAY_MS,
    ) -> None:
        """Evaluate every rule at ``ts_ms`` in order; write results and staleness markers.

        A rule that fails keeps its previous series (no staleness markers) and records the error
        in its health; the rules after it still run.
        """
        started = time.perf_counter()
        for index, rule in enumerate(self.rules):
            self.rule_evaluations += 1
            try:
                samples = rule.evaluate(
                    ts_ms, query, query_offset_ms=self.query_offset_ms, limit=self.limit
                )
            except VigieError as error:
                self.rule_evaluation_failures += 1
                logger.warning("rule %r of group %r failed: %s", rule.name, self.name, error)
                continue
            if isinstance(rule, AlertingRule) and notify is not None:
                due = rule.alerts_to_send(ts_ms, resend_delay_ms, self.interval_ms)
                if due:
                    notify(rule.expr, due)
            if storage is not None:
                self._write(index, samples, ts_ms - self.query_offset_ms, storage)
        self.last_evaluation = ts_ms
        self.evaluation_seconds = time.perf_counter() - started

    def _write(
        self, index: int, samples: Sequence[Sample], stale_ms: int, storage: Storage
    ) -> None:
        appender = storage.appender()
        returned: dict[LabelPairs, dict[str, str]] = {}
        for sample in samples:
            try:
                appender.append(sample.labels, sample.timestamp_ms, sample.value)
            except StoreError as error:
                logger.warning("rule sample not stored in group %r: %s", self.name, error)
                continue
            returned[label_pairs(sample.labels)] = sample.labels
        for key, labels in self._previous[index].items():
            if key not in returned:
                appender.append(labels, stale_ms, STALE_NAN)
        try:
            appender.commit()
        except StoreError as error:
            logger.warning("rule results not stored in group %r: %s", self.name, error)
        self._previous[index] = returned

    def mark_stale(self, ts_ms: int, storage: Storage) -> None:
        """Staleness markers for everything the group wrote (the group was removed)."""
        appender = storage.appender()
        for previous in self._previous:
            for labels in previous.values():
                appender.append(labels, ts_ms, STALE_NAN)
        appender.commit()
        self._previous = [{} for _ in self.rules]

    def restore_for_state(
        self,
        ts_ms: int,
        querier: Querier,
        *,
        outage_tolerance_ms: int = DEFAULT_OUTAGE_TOLERANCE_MS,
        grace_period_ms: int = DEFAULT_FOR_GRACE_PERIOD_MS,
    ) -> None:
        """Restore the ``for`` state of every alerting rule from ``ALERTS_FOR_STATE``."""
        for rule in self.alerting_rules():
            rule.restore_for_state(
                ts_ms,
                querier,
                outage_tolerance_ms=outage_tolerance_ms,
                grace_period_ms=grace_period_ms,
            )
        self.should_restore = False

    def copy_state_from(self, old: RuleGroup) -> None:
        """Keep alerts and series state across a reload (same file and name), as Prometheus."""
        old_rules = {(rule.kind, rule.name, rule.expr): rule for rule in old.rules}
        self.rule_evaluations = old.rule_evaluations  # counters never go back on a reload
        self.rule_evaluation_failures = old.rule_evaluation_failures
        for index, rule in enumerate(self.rules):
            previous = old_rules.get((rule.kind, rule.name, rule.expr))
            if previous is None:
                continue
            if isinstance(rule, AlertingRule) and isinstance(previous, AlertingRule):
                rule.active = previous.active
                rule.restored = previous.restored
            old_index = old.rules.index(previous)
            self._previous[index] = old._previous[old_index]
