import numpy as np
import pytest

from lipdub.face import geometry
from models.lip_shapes import N_LIPS, canonical_lips, lip_metrics, reference_lips


def _face(rng, scale: float, angle: float, shift: tuple[float, float]) -> np.ndarray:
    points = rng.normal(size=(468, 2))
    c, s = np.cos(angle), np.sin(angle)
    return (points @ np.array([[c, -s], [s, c]]).T * scale + shift).astype(np.float32)


def test_lip_metrics_are_the_evaluation_metrics_in_any_pose():
    rng = np.random.default_rng(0)
    faces = np.stack([_face(rng, scale=50 + 10 * i, angle=0.1 * i, shift=(300 + i, 200 - i)) for i in range(6)])
    lips = canonical_lips(faces)
    assert lips.shape == (6, N_LIPS, 2)
    metrics = lip_metrics(lips)
    np.testing.assert_allclose(metrics[:, 0], geometry.mouth_opening(faces), rtol=1e-4)
    np.testing.assert_allclose(metrics[:, 1], geometry.mouth_width(faces), rtol=1e-4)


def test_lip_metrics_work_on_torch_tensors_with_gradients():
    torch = pytest.importorskip("torch")
    lips = torch.tensor(np.random.default_rng(1).normal(size=(2, 3, N_LIPS, 2)), requires_grad=True)
    out = lip_metrics(lips)
    assert out.shape == (2, 3, 2)
    out.sum().backward()
    assert lips.grad is not None and torch.isfinite(lips.grad).all()


def test_reference_lips_uses_valid_frames_only():
    lips = np.zeros((4, N_LIPS, 2), np.float32)
    lips[3] = 100.0  # an invalid frame's garbage
    np.testing.assert_array_equal(reference_lips(lips, np.array([True, True, True, False])), 0.0)
    with pytest.raises(ValueError):
        reference_lips(lips, np.zeros(4, bool))
