"""The engine's working values: joining a store's series without copying them again."""

from __future__ import annotations

import numpy as np

from vigie.query.values import join


def test_back_to_back_slices_are_joined_without_a_copy() -> None:
    """Consecutive slices of one buffer come back as a view of it."""
    whole = np.arange(10, dtype=np.int64)
    joined = join([whole[1:4], whole[4:4], whole[4:9]])
    assert joined.tolist() == list(range(1, 9))
    assert np.shares_memory(joined, whole)


def test_anything_else_is_concatenated() -> None:
    """Gaps, other buffers, reinterpreted dtypes and strides are copied as concatenate does."""
    whole = np.arange(10, dtype=np.float64)
    other = np.arange(3, dtype=np.float64)
    cases = [
        [whole[0:3], whole[4:6]],  # a gap
        [whole[0:3], other[0:2]],  # another buffer
        [whole[0:3], whole[3:5].view(np.int64).view(np.float64)],
        [whole[0:4:2], whole[4:6]],  # strided
        [whole[3:5], whole[0:3]],  # out of order
    ]
    for arrays in cases:
        joined = join(arrays)
        assert joined.tolist() == np.concatenate(arrays).tolist()
    assert not np.shares_memory(join([whole[0:3], whole[4:6]]), whole)
    assert join([]).size == 0
    single = whole[2:5]
    assert join([single]) is single
