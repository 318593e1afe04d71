"""Sample compression: a run of (timestamp, value) pairs to a few bytes per sample, and back.

Why this shape: a Gorilla encoder writes variable-length bit fields per sample, which in Python
costs microseconds per sample. Here each transform is a whole-array numpy operation and the
entropy coding is left to ``zlib`` (raw deflate), which runs in C:

* timestamps become delta-of-delta values (a regular scrape interval gives runs of zeros),
  zigzag-mapped to unsigned integers;
* values become either integer delta or delta-of-delta (counters, histogram buckets: every value
  integral, so a steady rate is a run of zeros) or, for any other float, the XOR with the previous
  value's bits (Gorilla's idea: an unchanged or slowly changing gauge XORs to mostly zero bytes);
* each unsigned 64-bit column is split into byte planes (all first bytes, then all second bytes,
  ...), the all-zero high planes are dropped, and the rest is deflated. Byte planes put the
  zeros next to each other, which deflate turns into almost nothing.

Values keep their exact bits in every mode: the integer modes are used only when every value is an
integral float other than ``-0.0``, and the XOR mode works on the raw bits, so NaN payloads
(including the staleness marker) and signed zeros survive bit for bit.

Example::

    >>> import numpy as np
    >>> t = np.arange(0, 120 * 15_000, 15_000, dtype=np.int64)
    >>> v = np.arange(120, dtype=np.float64) * 3
    >>> data = encode_chunk(t, v)
    >>> len(data) < 60
    True
    >>> t2, v2 = decode_chunk(data)
    >>> bool((t2 == t).all() and (v2 == v).all())
    True
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vigie.exceptions import CorruptionError

__all__ = [
    "decode_chunk",
    "decode_chunks",
    "encode_chunk",
    "zigzag_decode",
    "zigzag_encode",
]

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
UInt64Array = npt.NDArray[np.uint64]

_VERSION = 1
_XOR, _INT_DELTA, _INT_DOD = 0, 1, 2
# version, timestamp planes, value mode, value planes, sample count, first timestamp
_HEADER = struct.Struct("<BBBBIq")
# Integral floats up to 2**53 convert to int64 and back without loss.
_EXACT_INT_LIMIT = float(2**53)
_LEVEL = 6
_FAST_LEVEL = 1


def zigzag_encode(values: Int64Array) -> UInt64Array:
    """Map signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2 -> 0, 1, 2, 3."""
    signed = values.astype(np.int64, copy=False)
    return ((signed << np.int64(1)) ^ (signed >> np.int64(63))).view(np.uint64)


def zigzag_decode(values: UInt64Array) -> Int64Array:
    """Inverse of :func:`zigzag_encode`."""
    unsigned = values.astype(np.uint64, copy=False)
    shifted = (unsigned >> np.uint64(1)).view(np.int64)
    sign = -(unsigned & np.uint64(1)).view(np.int64)
    return shifted ^ sign


def _planes(column: UInt64Array) -> tuple[int, bytes]:
    """Byte planes of ``column`` with the all-zero high planes dropped: (plane count, bytes)."""
    if column.size == 0:
        return 0, b""
    width = (int(column.max()).bit_length() + 7) // 8
    if width == 0:
        return 0, b""
    as_bytes = column.astype("<u8", copy=False).view(np.uint8).reshape(-1, 8)
    return width, np.ascontiguousarray(as_bytes[:, :width].T).tobytes()


def _unplanes(data: bytes | memoryview, width: int, count: int) -> UInt64Array:
    """Inverse of :func:`_planes` for ``count`` values."""
    out = np.zeros((count, 8), dtype=np.uint8)
    if width:
        planes = np.frombuffer(data, dtype=np.uint8, count=width * count).reshape(width, count)
        out[:, :width] = planes.T
    return out.view("<u8").reshape(count).astype(np.uint64, copy=False)


def _delta_of_delta(values: Int64Array) -> Int64Array:
    """First delta, then the differences between consecutive deltas."""
    deltas = np.diff(values)
    if deltas.size == 0:
        return deltas
    return np.concatenate((deltas[:1], np.diff(deltas)))


def _integral(values: Float64Array) -> bool:
    """Whether every value survives a round trip through int64 exactly (``-0.0`` does not)."""
    with np.errstate(invalid="ignore"):
        if not bool(np.all(np.abs(values) <= _EXACT_INT_LIMIT)):
            return False  # also false for NaN and infinities
        if not bool(np.all(np.floor(values) == values)):
            return False
    return not bool(np.any((values == 0) & np.signbit(values)))


def _value_candidates(values: Float64Array, *, thorough: bool) -> list[tuple[int, int, bytes]]:
    """Applicable (mode, plane count, planes) encodings of the values column.

    ``thorough`` returns every applicable mode (the caller keeps the smallest after deflate);
    otherwise one mode is picked by a cheap estimate, for the ingest path.
    """
    if _integral(values):
        integers = values.astype(np.int64)
        first = integers[:1]
        deltas = np.diff(integers)
        delta = np.concatenate((first, deltas))
        dod = np.concatenate((first, deltas[:1], np.diff(deltas)))
        if thorough:
            return [
                (_INT_DELTA, *_planes(zigzag_encode(delta))),
                (_INT_DOD, *_planes(zigzag_encode(dod))),
                (_XOR, *_planes(_xored(values))),
            ]
        # Fewer significant bytes in total wins: a steady counter favours delta-of-delta.
        if np.abs(dod[1:]).sum() < np.abs(delta[1:]).sum():
            return [(_INT_DOD, *_planes(zigzag_encode(dod)))]
        return [(_INT_DELTA, *_planes(zigzag_encode(delta)))]
    return [(_XOR, *_planes(_xored(values)))]


def _xored(values: Float64Array) -> UInt64Array:
    bits = values.view(np.uint64)
    xored = bits.copy()
    xored[1:] ^= bits[:-1]
    return xored


def encode_chunk(timestamps: Int64Array, values: Float64Array, *, thorough: bool = True) -> bytes:
    """Compress sorted, unique ``timestamps`` and their ``values`` into one immutable chunk.

    ``thorough=False`` (the head's ingest path) tries one value mode at a fast deflate level;
    blocks use the default, which keeps the smallest of every mode at a higher level.
    """
    count = int(timestamps.size)
    if count != values.size:
        raise ValueError(f"{count} timestamps but {values.size} values")
    if count == 0:
        return _HEADER.pack(_VERSION, 0, _XOR, 0, 0, 0)
    timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    ts_width, ts_planes = _planes(zigzag_encode(_delta_of_delta(timestamps)))
    level = _LEVEL if thorough else _FAST_LEVEL
    best: bytes | None = None
    for mode, width, planes in _value_candidates(values, thorough=thorough):
        body = zlib.compress(ts_planes + planes, level, -15)
        header = _HEADER.pack(_VERSION, ts_width, mode, width, count, int(timestamps[0]))
        if best is None or len(header) + len(body) < len(best):
            best = header + body
    assert best is not None
    return best


def chunk_count(data: bytes | memoryview) -> int:
    """Number of samples in an encoded chunk, without decoding it."""
    return int(_HEADER.unpack_from(data)[4])


def decode_chunk(data: bytes | memoryview) -> tuple[Int64Array, Float64Array]:
    """Decompress a chunk made by :func:`encode_chunk`; raises CorruptionError on garbage."""
    try:
        version, ts_width, mode, width, count, first = _HEADER.unpack_from(data)
    except struct.error as error:
        raise CorruptionError(f"chunk too short ({len(data)} bytes)") from error
    if version != _VERSION or mode not in (_XOR, _INT_DELTA, _INT_DOD) or ts_width > 8:
        raise CorruptionError(f"unknown chunk encoding (version {version}, mode {mode})")
    if count == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    try:
        raw = zlib.decompress(memoryview(data)[_HEADER.size :], -15)
    except zlib.error as error:
        raise CorruptionError(f"chunk does not decompress: {error}") from error
    expected = ts_width * (count - 1) + width * count
    if len(raw) != expected or width > 8:
        raise CorruptionError(f"chunk holds {len(raw)} bytes, expected {expected}")
    dod = zigzag_decode(_unplanes(raw, ts_width, count - 1))
    timestamps = np.empty(count, dtype=np.int64)
    timestamps[0] = first
    np.cumsum(np.cumsum(dod), out=timestamps[1:])
    timestamps[1:] += first
    column = _unplanes(memoryview(raw)[ts_width * (count - 1) :], width, count)
    if mode == _XOR:
        values = np.bitwise_xor.accumulate(column).view(np.float64)
    else:
        signed = zigzag_decode(column)
        if mode == _INT_DOD:
            signed = np.concatenate((signed[:1], signed[:1] + np.cumsum(np.cumsum(signed[1:]))))
        else:
            signed = np.cumsum(signed)
        values = signed.astype(np.float64)
    return timestamps, values


def _unplanes_rows(data: npt.NDArray[np.uint8], width: int, count: int) -> UInt64Array:
    """:func:`_unplanes` for each row of ``data`` (rows of ``width * count`` bytes)."""
    rows = data.shape[0]
    out = np.zeros((rows, count, 8), dtype=np.uint8)
    if width:
        out[:, :, :width] = data.reshape(rows, width, count).transpose(0, 2, 1)
    return out.view("<u8").reshape(rows, count).astype(np.uint64, copy=False)


def decode_chunks(
    chunks: Sequence[bytes | memoryview],
) -> list[tuple[Int64Array, Float64Array] | CorruptionError]:
    """:func:`decode_chunk` for many chunks, with identical results (bit for bit), in a fraction
    of the numpy calls; a chunk that does not decode gets its CorruptionError in its place.

    Why: decoding is a dozen numpy calls whatever the chunk's size, which for a query reading
    thousands of chunks costs more than the arithmetic itself. Chunks sharing a layout (sample
    count, plane widths, value mode: most chunks of a block) are decoded together, as the rows
    of one matrix; each result is a copy of its own (a cache may keep some and drop others).

    Example::

        >>> import numpy as np
        >>> t = np.arange(0, 600_000, 15_000, dtype=np.int64)
        >>> parts = decode_chunks([encode_chunk(t, t * 2.0), encode_chunk(t, t * 3.0)])
        >>> [float(v[-1]) for _, v in parts]
        [1170000.0, 1755000.0]
    """
    results: list[tuple[Int64Array, Float64Array] | CorruptionError | None] = [None] * len(chunks)
    groups: dict[tuple[int, int, int, int], list[tuple[int, int, bytes]]] = {}
    for index, data in enumerate(chunks):
        try:
            version, ts_width, mode, width, count, first = _HEADER.unpack_from(data)
            if (
                version != _VERSION
                or mode not in (_XOR, _INT_DELTA, _INT_DOD)
                or ts_width > 8
                or width > 8
                or count < 2
            ):
                raise ValueError("not for batching")
            raw = zlib.decompress(memoryview(data)[_HEADER.size :], -15)
        except (struct.error, ValueError, zlib.error):
            try:  # decoded alone: the same result or the same error as decode_chunk
                results[index] = decode_chunk(data)
            except CorruptionError as error:
                results[index] = error
            continue
        if len(raw) != ts_width * (count - 1) + width * count:
            results[index] = CorruptionError(
                f"chunk holds {len(raw)} bytes, expected {ts_width * (count - 1) + width * count}"
            )
            continue
        groups.setdefault((ts_width, mode, width, count), []).append((index, first, raw))
    for (ts_width, mode, width, count), members in groups.items():
        rows = len(members)
        raw_rows = np.frombuffer(b"".join(raw for _, _, raw in members), dtype=np.uint8)
        raw_rows = raw_rows.reshape(rows, -1)
        ts_bytes = ts_width * (count - 1)
        dod = zigzag_decode(_unplanes_rows(raw_rows[:, :ts_bytes], ts_width, count - 1))
        firsts = np.array([first for _, first, _ in members], dtype=np.int64)
        timestamps = np.empty((rows, count), dtype=np.int64)
        timestamps[:, 0] = firsts
        np.cumsum(np.cumsum(dod, axis=1), axis=1, out=timestamps[:, 1:])
        timestamps[:, 1:] += firsts[:, None]
        column = _unplanes_rows(raw_rows[:, ts_bytes:], width, count)
        if mode == _XOR:
            values = np.bitwise_xor.accumulate(column, axis=1).view(np.float64)
        else:
            signed = zigzag_decode(column)
            if mode == _INT_DOD:
                runs = np.cumsum(np.cumsum(signed[:, 1:], axis=1), axis=1)
                signed = np.concatenate((signed[:, :1], signed[:, :1] + runs), axis=1)
            else:
                signed = np.cumsum(signed, axis=1)
            values = signed.astype(np.float64)
        for row, (index, _, _) in enumerate(members):
            results[index] = (timestamps[row].copy(), values[row].copy())
    return [result for result in results if result is not None]
