"""Chunk encoding: exact round trips (bits included) and a few bytes per sample on real shapes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.exceptions import CorruptionError
from vigie.store.encoding import (
    decode_chunk,
    decode_chunks,
    encode_chunk,
    zigzag_decode,
    zigzag_encode,
)
from vigie.store.interface import STALE_NAN, STALE_NAN_BITS

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
NAN_BITS = st.integers(0, 2**52 - 1).map(
    lambda m: struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000000 | m | 1))[0]
)
SPECIAL = st.sampled_from([STALE_NAN, float("nan"), float("inf"), float("-inf"), -0.0, 0.0])
VALUES = st.one_of(ANY_FLOAT, SPECIAL, NAN_BITS, st.integers(-(2**53), 2**53).map(float))


def _bits(values: np.ndarray) -> list[int]:
    return values.view(np.uint64).tolist()


@st.composite
def chunks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique timestamps (any int64 spacing) and arbitrary float64 values."""
    stamps = draw(st.lists(st.integers(-(2**62), 2**62), min_size=0, max_size=300, unique=True))
    stamps.sort()
    values = draw(st.lists(VALUES, min_size=len(stamps), max_size=len(stamps)))
    return np.array(stamps, dtype=np.int64), np.array(values, dtype=np.float64)


@settings(max_examples=300, deadline=None)
@given(chunks())
def test_round_trip_is_bit_exact(chunk: tuple[np.ndarray, np.ndarray]) -> None:
    """Any sorted timestamps and any float bits decode to exactly what was encoded."""
    timestamps, values = chunk
    decoded_t, decoded_v = decode_chunk(encode_chunk(timestamps, values))
    assert decoded_t.tolist() == timestamps.tolist()
    assert _bits(decoded_v) == _bits(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**53), 2**53), min_size=1, max_size=200))
def test_integer_valued_floats_round_trip(integers: list[int]) -> None:
    """Integral values (the integer encodings' domain) round trip, including -0.0 neighbours."""
    values = np.array(integers, dtype=np.float64)
    values[0] = -0.0 if integers[0] == 0 else values[0]
    stamps = np.arange(values.size, dtype=np.int64) * 15_000
    _, decoded = decode_chunk(encode_chunk(stamps, values))
    assert _bits(decoded) == _bits(values)


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=100))
def test_zigzag_is_a_bijection(integers: list[int]) -> None:
    """Zigzag maps int64 to uint64 and back without loss."""
    array = np.array(integers, dtype=np.int64)
    assert zigzag_decode(zigzag_encode(array)).tolist() == integers


def test_zigzag_keeps_small_magnitudes_small() -> None:
    """0, -1, 1, -2, 2 map to 0, 1, 2, 3, 4."""
    assert zigzag_encode(np.array([0, -1, 1, -2, 2])).tolist() == [0, 1, 2, 3, 4]


def test_stale_marker_survives_in_every_mode() -> None:
    """A staleness marker inside a counter run keeps its exact bit pattern."""
    values = np.arange(120, dtype=np.float64)
    values[60] = STALE_NAN
    _, decoded = decode_chunk(encode_chunk(np.arange(120, dtype=np.int64) * 15_000, values))
    assert int(decoded.view(np.uint64)[60]) == STALE_NAN_BITS


def _realistic() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    stamps = 1_700_000_000_000 + np.arange(120, dtype=np.int64) * 15_000
    return {
        "counter": (stamps, np.cumsum(rng.poisson(20, 120)).astype(np.float64)),
        "bucket": (stamps, np.cumsum(rng.poisson(2, 120)).astype(np.float64)),
        "constant": (stamps, np.ones(120)),
    }


@pytest.mark.parametrize(("name", "limit"), [("counter", 1.3), ("bucket", 1.0), ("constant", 0.3)])
def test_regular_series_compress_to_about_a_byte_per_sample(name: str, limit: float) -> None:
    """Regular scrapes of counters and constants take at most ~1 byte per sample."""
    stamps, values = _realistic()[name]
    assert len(encode_chunk(stamps, values)) / stamps.size <= limit


def test_garbage_is_a_corruption_error() -> None:
    """Truncated or altered chunk bytes raise CorruptionError, never a crash or wrong data."""
    data = encode_chunk(np.arange(50, dtype=np.int64), np.arange(50, dtype=np.float64) * 0.1)
    with pytest.raises(CorruptionError):
        decode_chunk(data[:5])
    with pytest.raises(CorruptionError):
        decode_chunk(data[:-3])
    with pytest.raises(CorruptionError):
        decode_chunk(b"\x09" + data[1:])


def test_mismatched_lengths_are_refused() -> None:
    """Timestamps and values must pair up."""
    with pytest.raises(ValueError, match="3 timestamps but 2 values"):
        encode_chunk(np.arange(3, dtype=np.int64), np.zeros(2))


@settings(max_examples=100, deadline=None)
@given(st.lists(chunks(), min_size=1, max_size=6), st.integers(1, 4))
def test_batch_decoding_is_bit_identical(
    drawn: list[tuple[np.ndarray, np.ndarray]], copies: int
) -> None:
    """decode_chunks gives each chunk exactly what decode_chunk gives, layouts shared or not."""
    encoded = [encode_chunk(t, v) for t, v in drawn] * copies
    regular = np.arange(0, 120 * 15_000, 15_000, dtype=np.int64)
    encoded += [encode_chunk(regular, np.arange(120.0) * k) for k in range(3)]
    for data, got in zip(encoded, decode_chunks(encoded), strict=True):
        assert not isinstance(got, CorruptionError)
        t, v = decode_chunk(data)
        assert got[0].tolist() == t.tolist()
        assert _bits(got[1]) == _bits(v)


def test_batch_decoding_reports_each_bad_chunk_in_its_place() -> None:
    """A garbage chunk among good ones gets its CorruptionError; the others decode."""
    t = np.arange(0, 10 * 15_000, 15_000, dtype=np.int64)
    good = encode_chunk(t, t * 1.5)
    truncated = good[:-3]
    decoded = decode_chunks([good, b"\x01\x02", truncated, good])
    assert isinstance(decoded[1], CorruptionError)
    assert isinstance(decoded[2], CorruptionError)
    for index in (0, 3):
        found = decoded[index]
        assert not isinstance(found, CorruptionError)
        assert found[1].tolist() == (t * 1.5).tolist()
