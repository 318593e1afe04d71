"""Prometheus remote write 1.0 receiver: snappy-compressed protobuf ``WriteRequest`` bodies.

Why message classes built at runtime: the schema (``prometheus/prompb/types.proto``) is small and
frozen for 1.0, so we declare it here with ``descriptor_pb2`` in a private descriptor pool, with no
``protoc`` step and no generated file to keep in sync; parsing then runs in protobuf's C (upb)
implementation, which handles every wire-format case (packed or not, unknown fields, field order)
that a hand decoder would have to get right, and is several times faster than one written in Python.

Samples that the store refuses as duplicate or out of order are dropped and counted (Prometheus's
receiver does the same); an undecodable body or invalid labels is a 400, which senders do not retry.

Example::

    >>> request = WriteRequest()
    >>> series = request.timeseries.add()
    >>> series.labels.add(name="__name__", value="up")
    >>> series.samples.add(value=1.0, timestamp=1000)
    >>> decode(cramjam.snappy.compress_raw(request.SerializeToString()))[0][0].labels
    {'__name__': 'up'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cramjam
from google.protobuf import (  # type: ignore[import-untyped,unused-ignore]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

from vigie.exceptions import DuplicateSampleError, OutOfOrderSampleError, PayloadError
from vigie.server.exposition import MetricMetadata
from vigie.server.scrape import rejected_count
from vigie.store.interface import Storage

__all__ = ["RemoteSeries", "WriteRequest", "decode", "store"]

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METADATA_TYPES = {
    0: "unknown", 1: "counter", 2: "gauge", 3: "histogram", 4: "gaugehistogram",
    5: "summary", 6: "info", 7: "stateset",
}  # fmt: skip


def _build_messages() -> dict[str, Any]:
    field = descriptor_pb2.FieldDescriptorProto
    schema = descriptor_pb2.FileDescriptorProto(
        name="vigie/prompb_remote_write.proto", package="prometheus", syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, int, int, bool, str]) -> None:
        proto = schema.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            added = proto.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL,
            )
            if type_name:
                added.type_name = type_name

    message("Label", ("name", 1, field.TYPE_STRING, False, ""),
            ("value", 2, field.TYPE_STRING, False, ""))  # fmt: skip
    message("Sample", ("value", 1, field.TYPE_DOUBLE, False, ""),
            ("timestamp", 2, field.TYPE_INT64, False, ""))  # fmt: skip
    message("Exemplar", ("labels", 1, field.TYPE_MESSAGE, True, ".prometheus.Label"),
            ("value", 2, field.TYPE_DOUBLE, False, ""),
            ("timestamp", 3, field.TYPE_INT64, False, ""))  # fmt: skip
    message("TimeSeries", ("labels", 1, field.TYPE_MESSAGE, True, ".prometheus.Label"),
            ("samples", 2, field.TYPE_MESSAGE, True, ".prometheus.Sample"),
            ("exemplars", 3, field.TYPE_MESSAGE, True, ".prometheus.Exemplar"))  # fmt: skip
    message("MetricMetadata", ("type", 1, field.TYPE_INT32, False, ""),
            ("metric_family_name", 2, field.TYPE_STRING, False, ""),
            ("help", 4, field.TYPE_STRING, False, ""),
            ("unit", 5, field.TYPE_STRING, False, ""))  # fmt: skip
    message("WriteRequest", ("timeseries", 1, field.TYPE_MESSAGE, True, ".prometheus.TimeSeries"),
            ("metadata", 3, field.TYPE_MESSAGE, True, ".prometheus.MetricMetadata"))  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in ("WriteRequest", "TimeSeries")
    }


_MESSAGES = _build_messages()
#: The ``prometheus.WriteRequest`` message class (also handy to build requests in tests).
WriteRequest: Any = _MESSAGES["WriteRequest"]


@dataclass
class RemoteSeries:
    """One decoded time series: labels and ``(timestamp ms, value)`` samples."""

    labels: dict[str, str]
    samples: list[tuple[int, float]]


def decode(body: bytes) -> tuple[list[RemoteSeries], dict[str, MetricMetadata]]:
    """Decode a snappy-compressed ``WriteRequest``; raises :class:`PayloadError` when invalid."""
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as error:  # cramjam raises its own DecompressionError
        raise PayloadError(f"snappy decode error: {error}") from None
    request = WriteRequest()
    try:
        request.ParseFromString(raw)
    except Exception as error:  # protobuf's DecodeError
        raise PayloadError(f"protobuf decode error: {error}") from None
    series_list = []
    for index, series in enumerate(request.timeseries):
        labels: dict[str, str] = {}
        for label in series.labels:
            if not _LABEL_NAME.match(label.name):
                raise PayloadError(f"timeseries[{index}]: invalid label name {label.name!r}")
            if label.name in labels:
                raise PayloadError(f"timeseries[{index}]: duplicate label name {label.name!r}")
            labels[label.name] = label.value
        if not labels.get("__name__"):
            raise PayloadError(f"timeseries[{index}]: missing metric name (__name__ label)")
        samples = [(sample.timestamp, sample.value) for sample in series.samples]
        series_list.append(RemoteSeries(labels, samples))
    metadata = {
        item.metric_family_name: MetricMetadata(
            _METADATA_TYPES.get(item.type, "unknown"), item.help, item.unit
        )
        for item in request.metadata
    }
    return series_list, metadata


def store(storage: Storage, series_list: list[RemoteSeries]) -> tuple[int, int, int]:
    """Append and commit; returns ``(stored, duplicates, out_of_order)``."""
    appender = storage.appender()
    stored = duplicates = out_of_order = 0
    try:
        for series in series_list:
            labels = series.labels
            samples = series.samples
            try:
                # One call per series: the store resolves the label set once, not per sample.
                appender.append_many(labels, [t for t, _ in samples], [v for _, v in samples])
                stored += len(samples)
            except (DuplicateSampleError, OutOfOrderSampleError):
                # A store that validates on append: fall back to one sample at a time.
                for timestamp, value in samples:
                    try:
                        appender.append(labels, timestamp, value)
                        stored += 1
                    except DuplicateSampleError:
                        duplicates += 1
                    except OutOfOrderSampleError:
                        out_of_order += 1
    except BaseException:
        appender.rollback()
        raise
    try:
        appender.commit()
    except DuplicateSampleError as error:
        count = rejected_count(error)
        duplicates, stored = duplicates + count, stored - count
    except OutOfOrderSampleError as error:
        count = rejected_count(error)
        out_of_order, stored = out_of_order + count, stored - count
    return stored, duplicates, out_of_order
