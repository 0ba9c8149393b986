import numpy as np

from lipdub.face import geometry
from lipdub.render.atlas import CropGeometry, build_mouth_atlas
from lipdub.render.warp import (
    RefinementWarper,
    bounding_box,
    canonical_to_frame,
    crop_to_frame,
    invert_affine_2x3,
    smooth_placements,
    warp_to_frame,
)


def test_invert_affine_matches_geometry():
    m = np.random.default_rng(0).normal(size=(6, 2, 3))
    assert np.allclose(invert_affine_2x3(m), geometry.invert_affine(m))


def test_warp_is_identity_when_target_pose_equals_atlas_pose(tmp_path, talking_sequence):
    frames, landmarks = talking_sequence(0.1 + 0.05 * np.sin(np.arange(6)), shifts=[(t, t // 2) for t in range(6)])
    atlas = build_mouth_atlas(iter(frames), landmarks, np.ones(6, bool), work_dir=str(tmp_path))
    for entry in (0, 4):
        frame = frames[atlas.source_index[entry]]
        to_frame = canonical_to_frame(landmarks[atlas.source_index[entry]][None], atlas.template)[0]
        matrix = crop_to_frame(to_frame, atlas.geometry)
        w, h = atlas.geometry.size
        bbox = bounding_box(matrix, (8, 8, w - 8, h - 8), (frame.shape[1], frame.shape[0]))
        x0, y0, x1, y1 = bbox
        pasted = warp_to_frame(atlas.crops[entry], matrix, bbox).astype(np.int32)
        original = frame[y0:y1, x0:x1].astype(np.int32)
        inner = (slice(3, -3), slice(3, -3))
        assert np.abs(pasted[inner] - original[inner]).mean() < 3.0
        # The refinement path with identical shapes is the same warp (up to OpenCV's 1/32-pixel
        # coordinate quantisation, which can flip a level or few on the painted mouth's hard edge).
        own = atlas.basis.shapes_for(atlas.metrics[entry][None])[0]
        refined = warp_to_frame(atlas.crops[entry], matrix, bbox, RefinementWarper(atlas.geometry), (own, own)).astype(np.int32)
        assert np.abs(refined - pasted).mean() < 0.05 and np.abs(refined - pasted).max() <= 8


def test_refinement_moves_points_by_the_shape_difference_and_is_capped():
    geom = CropGeometry(box=np.array([-1.0, 0.3, 1.0, 1.6]), pixels_per_unit=100.0)
    rng = np.random.default_rng(0)
    target = np.stack([rng.uniform(-0.5, 0.5, 57), rng.uniform(0.6, 1.3, 57)], axis=1)
    source = target + np.array([0.0, 0.04])  # crop's mouth is 4 px lower than wanted
    warper = RefinementWarper(geom, max_shift=0.12)
    w, h = geom.size
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    maps = warper.frame_maps(source, target, identity, (w, h))
    assert maps.shape == (h, w, 2)
    probe = np.round(geometry.apply_affine(geom.canonical_to_crop(), target[:5])).astype(int)
    shift = maps[probe[:, 1], probe[:, 0]] - probe
    assert np.allclose(shift[:, 0], 0.0, atol=0.5) and np.all(np.abs(shift[:, 1] - 4.0) < 1.0)
    # Far from the mouth nothing moves.
    assert np.allclose(maps[2, 2], [2, 2], atol=0.05)
    big = warper.frame_maps(target + np.array([0.0, 1.0]), target, identity, (w, h))
    displacement = big - np.dstack(np.meshgrid(np.arange(w), np.arange(h))).astype(np.float32)
    assert np.linalg.norm(displacement, axis=-1).max() <= 0.12 * 100 + 0.5


def test_smoothing_keeps_constants_and_restarts():
    base = np.array([[1.0, 0.1, 50.0], [-0.1, 1.0, 80.0]])
    moved = base + np.array([[0, 0, 40.0], [0, 0, 0]])
    matrices = np.stack([base] * 10 + [moved] * 10)
    restart = np.zeros(20, bool)
    restart[10] = True
    smoothed = smooth_placements(matrices, restart, sigma=1.5)
    assert np.allclose(smoothed, matrices)
    rng = np.random.default_rng(0)
    noisy = matrices + rng.normal(0, 0.5, matrices.shape) * np.array([0, 0, 1.0])
    jitter = lambda m: np.abs(np.diff(m[:10, :, 2], axis=0)).mean()
    assert jitter(smooth_placements(noisy, restart, 1.5)) < 0.6 * jitter(noisy)


def test_bounding_box_off_frame_is_none():
    matrix = np.array([[1.0, 0.0, 5000.0], [0.0, 1.0, 0.0]])
    assert bounding_box(matrix, (0, 0, 100, 100), (640, 480)) is None
    inside = bounding_box(np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 20.0]]), (0, 0, 100, 50), (640, 480))
    assert inside[0] <= 10 and inside[1] <= 20 and inside[2] >= 110 and inside[3] >= 70
