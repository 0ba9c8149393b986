import numpy as np
import pytest

from lipdub.render.mouth_shape import N_SHAPE_POINTS, MouthShapeBasis


def _synthetic_shapes(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    metrics = np.stack([rng.uniform(0.0, 0.3, n), rng.uniform(0.4, 0.6, n)], axis=1)
    base = rng.normal(0, 0.5, (N_SHAPE_POINTS, 2))
    open_dir = rng.normal(0, 1, (N_SHAPE_POINTS, 2))
    wide_dir = rng.normal(0, 1, (N_SHAPE_POINTS, 2))
    shapes = base + metrics[:, 0, None, None] * open_dir + metrics[:, 1, None, None] * wide_dir
    return shapes, metrics, (base, open_dir, wide_dir)


def test_basis_recovers_a_linear_speaker_model():
    shapes, metrics, (base, open_dir, wide_dir) = _synthetic_shapes()
    basis = MouthShapeBasis.fit(shapes, metrics, ridge=1e-6)
    query = np.array([[0.1, 0.5], [0.25, 0.45]])
    expected = base + query[:, 0, None, None] * open_dir + query[:, 1, None, None] * wide_dir
    assert basis.shapes_for(query).shape == (2, N_SHAPE_POINTS, 2)
    assert np.allclose(basis.shapes_for(query), expected, atol=1e-3)


def test_targets_beyond_the_source_range_are_clipped_not_extrapolated():
    shapes, metrics, _ = _synthetic_shapes()
    basis = MouthShapeBasis.fit(shapes, metrics)
    at_limit = basis.shapes_for([[basis.metric_high[0], 0.5]])
    far = basis.shapes_for([[5.0, 0.5]])
    assert np.allclose(at_limit, far)


def test_basis_round_trips_through_arrays():
    shapes, metrics, _ = _synthetic_shapes()
    basis = MouthShapeBasis.fit(shapes, metrics)
    again = MouthShapeBasis.from_arrays(basis.to_arrays())
    assert np.array_equal(again.shapes_for(metrics[:5]), basis.shapes_for(metrics[:5]))


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError):
        MouthShapeBasis.fit(np.zeros((0, N_SHAPE_POINTS, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError):
        MouthShapeBasis.fit(np.zeros((3, 10, 2)), np.zeros((3, 2)))
