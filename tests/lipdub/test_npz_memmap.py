"""Mapping one member of an npz: the same values as np.load, without reading the rest."""
from __future__ import annotations

import numpy as np
import pytest

from lipdub.npz_memmap import memmap_npz_member


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "landmarks": rng.normal(size=(50, 468, 2)).astype(np.float32),
        "fortran": np.asfortranarray(rng.normal(size=(7, 5))),
        "small": np.arange(3, dtype=np.int16),
        "empty": np.zeros((0, 4), np.float32),
    }


def test_stored_members_map_to_the_same_values(tmp_path, arrays):
    path = tmp_path / "a.npz"
    np.savez(path, **arrays)
    for name, expected in arrays.items():
        mapped = memmap_npz_member(path, name)
        assert mapped is not None and mapped.dtype == expected.dtype and mapped.shape == expected.shape
        np.testing.assert_array_equal(mapped, expected)
    mapped = memmap_npz_member(path, "landmarks")
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable


def test_compressed_or_missing_members_are_left_to_np_load(tmp_path, arrays):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, **arrays)
    assert memmap_npz_member(path, "landmarks") is None
    np.savez(tmp_path / "a.npz", **arrays)
    assert memmap_npz_member(tmp_path / "a.npz", "absent") is None
