"""Face Mesh landmark indices, face-aligned coordinates and mouth measurements.

All landmark arrays in lipdub are float32 pixel coordinates ``(..., 468, 2)`` (x, y) in the
*upright* frame (display rotation applied) at the source's full resolution.

The face-aligned ("canonical") frame is defined by a similarity transform fitted on points that
do not move when the person speaks (eye corners, nose bridge), so lip and jaw landmarks expressed
in it describe the mouth shape independently of head position, roll and scale.
"""
from __future__ import annotations

import numpy as np

# MediaPipe Face Mesh indices (canonical 468-point topology).
UPPER_INNER_LIP = 13
LOWER_INNER_LIP = 14
INNER_MOUTH_LEFT = 78
INNER_MOUTH_RIGHT = 308
OUTER_MOUTH_LEFT = 61
OUTER_MOUTH_RIGHT = 291
RIGHT_EYE_OUTER = 33  # subject's right eye, image left
LEFT_EYE_OUTER = 263
RIGHT_EYE_INNER = 133
LEFT_EYE_INNER = 362
NOSE_TIP = 1
CHIN = 152

# Points that stay put while speaking: eye corners and the nose bridge line.
STABLE_POINTS: tuple[int, ...] = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4)

LIP_POINTS: tuple[int, ...] = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
)
# Lower half of the face oval, ear to ear through the chin.
JAW_POINTS: tuple[int, ...] = (
    132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361,
)
MOUTH_SHAPE_POINTS: tuple[int, ...] = LIP_POINTS + JAW_POINTS

# Canonical frame: eye-outer-corner midpoint at the origin, eyes on the x axis, inter-ocular
# distance 1. Templates are expressed in these units and scaled per video.


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners (33-263), per frame."""
    return np.linalg.norm(landmarks[..., LEFT_EYE_OUTER, :] - landmarks[..., RIGHT_EYE_OUTER, :], axis=-1)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip distance (13-14) over the inter-ocular distance: the evaluation's opening metric."""
    gap = np.linalg.norm(landmarks[..., UPPER_INNER_LIP, :] - landmarks[..., LOWER_INNER_LIP, :], axis=-1)
    return gap / np.maximum(inter_ocular_distance(landmarks), 1e-6)


def mouth_width(landmarks: np.ndarray) -> np.ndarray:
    """Inner mouth-corner distance (78-308) over the inter-ocular distance."""
    width = np.linalg.norm(landmarks[..., INNER_MOUTH_LEFT, :] - landmarks[..., INNER_MOUTH_RIGHT, :], axis=-1)
    return width / np.maximum(inter_ocular_distance(landmarks), 1e-6)


def invert_affine_2x3(matrix: np.ndarray) -> np.ndarray:
    """Closed-form inverse of 2x3 affines ``(..., 2, 3)``.

    Same result as ``geometry.invert_affine`` but without LAPACK: on a 2-core machine OpenBLAS
    worker threads keep spinning after even a 2x2 ``inv`` and were measured to halve the speed
    of the OpenCV calls that follow in the per-frame path.
    """
    m = np.asarray(matrix, dtype=np.float64)
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    det = a * e - b * d
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    row0 = np.stack([ia, ib, -(ia * c + ib * f)], axis=-1)
    row1 = np.stack([id_, ie, -(id_ * c + ie * f)], axis=-1)
    return np.stack([row0, row1], axis=-2)


def eye_aligned_similarity(landmarks: np.ndarray) -> np.ndarray:
    """2x3 similarity mapping pixels to the canonical frame using only the outer eye corners.

    Works for one face ``(468, 2)`` or a batch ``(T, 468, 2)``; returns ``(2, 3)`` or ``(T, 2, 3)``.
    """
    right = landmarks[..., RIGHT_EYE_OUTER, :]
    left = landmarks[..., LEFT_EYE_OUTER, :]
    centre = (right + left) / 2.0
    axis = left - right
    scale = np.maximum(np.linalg.norm(axis, axis=-1), 1e-6)
    cos = axis[..., 0] / scale
    sin = axis[..., 1] / scale
    inv = 1.0 / scale
    a, b = cos * inv, sin * inv
    # Rotate by -angle and scale by 1/iod, after moving the eye midpoint to the origin.
    tx = -(a * centre[..., 0] + b * centre[..., 1])
    ty = -(-b * centre[..., 0] + a * centre[..., 1])
    row0 = np.stack([a, b, tx], axis=-1)
    row1 = np.stack([-b, a, ty], axis=-1)
    return np.stack([row0, row1], axis=-2).astype(np.float64)


def fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping ``source`` points onto ``target``.

    ``source`` and ``target`` are ``(N, 2)``; returns the 2x3 matrix M with ``target ~ M @ [x, y, 1]``.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c ** 2).sum() / len(src)
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / max(src_var, 1e-12)
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 (or batched ``(T, 2, 3)``) affine to points ``(..., N, 2)``."""
    linear = matrix[..., :2]
    offset = matrix[..., 2]
    return np.einsum("...ij,...nj->...ni", linear, points) + offset[..., None, :]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine (or a batch of them)."""
    linear = matrix[..., :2]
    offset = matrix[..., 2]
    inv_linear = np.linalg.inv(linear)
    inv_offset = -np.einsum("...ij,...j->...i", inv_linear, offset)
    return np.concatenate([inv_linear, inv_offset[..., None]], axis=-1)


def stable_template(landmarks: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Median canonical position of the stable points over a track: the per-video template."""
    frames = landmarks if valid is None else landmarks[valid]
    if len(frames) == 0:
        raise ValueError("no valid frames to build a face template from")
    canonical = apply_affine(eye_aligned_similarity(frames), frames[:, STABLE_POINTS, :])
    return np.median(canonical, axis=0)


def face_to_canonical(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Per-frame similarity ``(T, 2, 3)`` mapping pixels to the canonical frame via stable points."""
    frames = np.atleast_3d(landmarks) if landmarks.ndim == 3 else landmarks[None]
    matrices = np.stack([fit_similarity(frame[STABLE_POINTS, :], template) for frame in frames])
    return matrices if landmarks.ndim == 3 else matrices[0]


def canonical_mouth_shape(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Lip and jaw landmarks in the canonical frame, ``(T, len(MOUTH_SHAPE_POINTS), 2)``."""
    matrices = face_to_canonical(landmarks, template)
    frames = landmarks if landmarks.ndim == 3 else landmarks[None]
    shape = apply_affine(matrices, frames[:, MOUTH_SHAPE_POINTS, :])
    return shape if landmarks.ndim == 3 else shape[0]


# --- Batched helpers used by the renderer (additive; the functions above are unchanged). ---

# Points on the face oval level with the cheekbones (image left / image right) and the forehead top:
# they do not move with speech and shift strongly when the head turns or nods.
RIGHT_CHEEK_OVAL = 234
LEFT_CHEEK_OVAL = 454
FOREHEAD_TOP = 10
# Below the nose: subnasale and the nostril wings, the top edge of a lower-face region.
NOSE_BOTTOM_POINTS: tuple[int, ...] = (2, 98, 327, 64, 294)


def fit_similarity_batch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarities ``(T, 2, 3)`` mapping each ``source[t]`` ``(N, 2)`` onto ``target``.

    Same result as :func:`fit_similarity` per frame (a 2-D similarity without reflection is a
    complex-linear map, so the least-squares fit has a closed form) but vectorised over frames,
    which matters for long tracks. ``target`` is ``(N, 2)`` or ``(T, N, 2)``.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.broadcast_to(np.asarray(target, dtype=np.float64), src.shape)
    zs = src[..., 0] + 1j * src[..., 1]
    zd = dst[..., 0] + 1j * dst[..., 1]
    zs_mean, zd_mean = zs.mean(axis=-1, keepdims=True), zd.mean(axis=-1, keepdims=True)
    zs_c, zd_c = zs - zs_mean, zd - zd_mean
    gain = (np.conj(zs_c) * zd_c).sum(axis=-1) / np.maximum((np.abs(zs_c) ** 2).sum(axis=-1), 1e-12)
    offset = zd_mean[..., 0] - gain * zs_mean[..., 0]
    a, b = gain.real, gain.imag
    row0 = np.stack([a, -b, offset.real], axis=-1)
    row1 = np.stack([b, a, offset.imag], axis=-1)
    return np.stack([row0, row1], axis=-2)


def face_to_canonical_batch(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Vectorised :func:`face_to_canonical` for a track ``(T, 468, 2)`` -> ``(T, 2, 3)``."""
    return fit_similarity_batch(np.asarray(landmarks)[:, STABLE_POINTS, :], template)


def head_pose_proxies(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Cheap yaw / pitch proxies ``(T, 2)`` in canonical units from points that do not move with speech.

    Yaw: the nose tip's offset from the midpoint of the two cheek-level face-oval points (a turned
    head shows more cheek on one side). Pitch: the canonical height of the forehead top relative
    to the nose tip (a nodding head foreshortens the upper face). Only differences between frames
    of the same video are meaningful, which is all the mouth-atlas search needs.
    """
    frames = np.asarray(landmarks, dtype=np.float64)
    matrices = face_to_canonical_batch(frames, template)
    points = apply_affine(matrices, frames[:, [NOSE_TIP, RIGHT_CHEEK_OVAL, LEFT_CHEEK_OVAL, FOREHEAD_TOP], :])
    nose, right, left, forehead = points[:, 0], points[:, 1], points[:, 2], points[:, 3]
    yaw = nose[:, 0] - 0.5 * (right[:, 0] + left[:, 0])
    pitch = nose[:, 1] - forehead[:, 1]
    return np.stack([yaw, pitch], axis=-1)
