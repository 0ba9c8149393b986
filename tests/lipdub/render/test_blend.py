import numpy as np

from lipdub.face import geometry
from lipdub.render.atlas import CropGeometry
from lipdub.render.blend import colour_match, composite, lower_face_mask

GEOM = CropGeometry(box=np.array([-0.95, 0.3, 0.95, 1.6]), pixels_per_unit=120.0)


def _jaw(drop: float = 0.0) -> np.ndarray:
    """A canonical jaw outline (17 points, ear to ear through the chin) like Face Mesh gives."""
    angle = np.linspace(np.pi * 0.95, np.pi * 0.05, 17)
    x = 0.75 * np.cos(angle)
    y = 0.55 + (0.72 + drop) * np.sin(angle)
    return np.stack([x, y], axis=1)


NOSE = np.array([[0.0, 0.49], [-0.17, 0.47], [0.17, 0.47], [-0.1, 0.46], [0.1, 0.46]])


def _at(mask_full: np.ndarray, point) -> float:
    x, y = np.round(geometry.apply_affine(GEOM.canonical_to_crop(), np.array([point], dtype=np.float64))[0]).astype(int)
    return float(mask_full[y, x])


def test_lower_face_mask_spans_nose_to_below_both_chins():
    mask = lower_face_mask(_jaw(), _jaw(drop=0.1), NOSE, GEOM)
    full = mask.full(GEOM.size)
    assert full.shape == (GEOM.size[1], GEOM.size[0])
    assert 0.0 <= full.min() and full.max() <= 1.0
    assert _at(full, (0.0, 0.85)) > 0.99  # the mouth
    assert _at(full, (0.0, 1.32)) > 0.5  # the lower of the two chins (1.27 + 0.1 drop) is covered
    assert _at(full, (0.0, 0.35)) < 0.005  # above the nose bottom
    assert _at(full, (-0.74, 0.6)) < 0.2  # at the face outline: stays inside the cheek
    edge = np.concatenate([full[0], full[-1], full[:, 0], full[:, -1]])
    assert np.all(edge == 0.0)
    x0, y0, x1, y1 = mask.rect()
    ys, xs = np.nonzero(full)
    assert x0 <= xs.min() and y0 <= ys.min() and x1 >= xs.max() and y1 >= ys.max()


def test_mask_sides_follow_the_narrower_face_outline():
    wide = lower_face_mask(_jaw(), _jaw(), NOSE, GEOM).full(GEOM.size)
    narrow_entry = _jaw() * np.array([0.8, 1.0])
    narrow = lower_face_mask(_jaw(), narrow_entry, NOSE, GEOM).full(GEOM.size)
    assert narrow.sum() < wide.sum()
    assert _at(narrow, (0.55, 0.8)) < _at(wide, (0.55, 0.8))


def test_colour_match_removes_a_lighting_difference():
    rng = np.random.default_rng(0)
    target = rng.integers(60, 200, (80, 90, 3)).astype(np.uint8)
    patch = np.clip(target.astype(np.float32) * 0.9 - 15, 0, 255).astype(np.uint8)
    alpha = np.zeros((80, 90), np.float32)
    alpha[10:70, 10:80] = 0.3  # the ring where the statistics are taken
    matched = colour_match(patch, target, alpha)
    assert matched.dtype == np.uint8
    assert np.abs(matched.astype(np.int32) - target).mean() < 1.5
    assert np.abs(patch.astype(np.int32) - target).mean() > 5


def test_composite_leaves_pixels_outside_the_mask_exact():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    patch = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    alpha = np.zeros((20, 30), np.float32)
    alpha[5:15, 5:25] = 1.0
    alpha[5:15, 10] = 0.5
    out = composite(frame, patch, alpha, (40, 30, 70, 50))
    assert out is not frame
    changed = np.zeros((60, 80), bool)
    changed[30:50, 40:70] = alpha > 0
    assert np.array_equal(out[~changed], frame[~changed])
    region = out[30:50, 40:70]
    assert np.array_equal(region[alpha == 1.0], patch[alpha == 1.0])
