"""lipdub.face.smoothing: less jitter, the mouth's fast moves kept, nothing smoothed across a cut."""
import numpy as np
import pytest

from lipdub.face import geometry
from lipdub.face.smoothing import jitter, smooth_landmarks, smooth_run, smoothing_runs

FPS = 25


def _synthetic_sequence(base: np.ndarray, n: int, seed: int = 0, noise: float = 0.8):
    """A moving head whose mouth opens fast once (3 frames up, 3 down), plus landmark noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    pulse = np.zeros(n)
    pulse[30:37] = [0.33, 0.67, 1.0, 1.0, 0.67, 0.33, 0.0]
    lower = np.array([i for i in geometry.LIP_POINTS + geometry.JAW_POINTS
                      if base[i, 1] > base[geometry.UPPER_INNER_LIP, 1] + 1.0])
    clean = np.repeat(base[None].astype(np.float64), n, axis=0)
    clean[:, lower, 1] += 12.0 * pulse[:, None]
    # Head motion: slow drift and roll around the nose.
    angle = np.deg2rad(4.0) * np.sin(2 * np.pi * 0.5 * t)
    centre = base[geometry.NOSE_TIP].astype(np.float64)
    rel = clean - centre
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    moved = np.stack([cos * rel[..., 0] - sin * rel[..., 1], sin * rel[..., 0] + cos * rel[..., 1]], axis=-1)
    moved += centre + np.stack([15 * np.sin(2 * np.pi * 0.3 * t), 5 * t], axis=1)[:, None, :]
    noisy = moved + rng.normal(0.0, noise, moved.shape)
    return moved.astype(np.float32), noisy.astype(np.float32)


def test_smoothing_removes_jitter_but_keeps_a_fast_mouth_opening(astronaut_landmarks):
    clean, noisy = _synthetic_sequence(astronaut_landmarks, 75)
    smoothed = smooth_run(noisy, FPS)
    assert jitter(smoothed) < 0.35 * jitter(noisy)
    stable_error = lambda x: np.abs(x - clean)[:, geometry.STABLE_POINTS].mean()  # noqa: E731
    assert stable_error(smoothed) < 0.6 * stable_error(noisy)
    true_opening = geometry.mouth_opening(clean)
    opening = geometry.mouth_opening(smoothed)
    rise = true_opening[32] - true_opening[20]
    assert opening[32] - opening[20] > 0.85 * rise  # the peak is not flattened
    assert np.argmax(opening) in (32, 33)  # nor shifted
    assert np.abs(opening - true_opening).mean() <= np.abs(geometry.mouth_opening(noisy) - true_opening).mean()


def test_smoothing_never_crosses_cuts_or_gaps(astronaut_landmarks):
    _, noisy = _synthetic_sequence(astronaut_landmarks, 60, seed=1)
    noisy[30:] += 200.0  # a different framing after the cut
    valid = np.ones(60, bool)
    valid[45:48] = False
    noisy[45:48] = 0.0
    cut_before = np.zeros(60, bool)
    cut_before[30] = True
    assert smoothing_runs(valid, cut_before) == [(0, 30), (30, 45), (48, 60)]
    smoothed = smooth_landmarks(noisy, valid, cut_before, FPS)
    np.testing.assert_allclose(smoothed[:30], smooth_run(noisy[:30], FPS), atol=1e-3)
    np.testing.assert_allclose(smoothed[30:45], smooth_run(noisy[30:45], FPS), atol=1e-3)
    assert (smoothed[45:48] == 0).all()
    np.testing.assert_allclose(smoothed[48:], smooth_run(noisy[48:], FPS), atol=1e-3)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_short_runs_are_safe(astronaut_landmarks, n):
    _, noisy = _synthetic_sequence(astronaut_landmarks, 40)
    out = smooth_run(noisy[:n], FPS)
    assert out.shape == (n, 468, 2) and np.isfinite(out).all()
