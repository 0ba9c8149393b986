"""Landmark smoothing that never crosses a cut or a gap.

Smoothing splits head pose from face shape: per frame a similarity fitted on stable points (eye
corners, nose bridge) gives the pose; landmarks in that face-aligned frame give the shape. Pose and
the rigid part of the shape are smoothed with a long Savitzky-Golay window (MediaPipe's jitter is
mostly there), lip and jaw shape with a short one so a quick mouth opening keeps its height.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import savgol_filter

from lipdub.face import geometry


def smoothing_runs(valid: np.ndarray, cut_before: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of consecutive valid frames that contain no cut."""
    valid = np.asarray(valid, bool)
    cut_before = np.asarray(cut_before, bool)
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for t in range(len(valid)):
        if start is not None and (not valid[t] or cut_before[t]):
            runs.append((start, t))
            start = None
        if valid[t] and start is None:
            start = t
    if start is not None:
        runs.append((start, len(valid)))
    return runs


def _window(seconds: float, fps: float, length: int) -> int:
    """Odd Savitzky-Golay window of about ``seconds``, at most ``length``."""
    window = max(1, int(round(seconds * fps)))
    window += 1 - window % 2
    if window > length:
        window = length - (1 - length % 2)
    return window


def _savgol(values: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    if window < 3:
        return values
    return savgol_filter(values, window, min(polyorder, window - 1), axis=0, mode="interp")


LIP_JAW_INDEX = np.asarray(geometry.MOUTH_SHAPE_POINTS)
RIGID_INDEX = np.setdiff1d(np.arange(468), LIP_JAW_INDEX)


def smooth_run(landmarks: np.ndarray, fps: float, *, pose_window_s: float = 0.44, rigid_window_s: float = 0.44,
               lip_window_s: float = 0.2, polyorder: int = 2) -> np.ndarray:
    """Smooth one cut-free, gap-free run ``(n, 468, 2)``: strong on pose and rigid points, light on lips."""
    n = len(landmarks)
    if n < 3:
        return landmarks.astype(np.float32)
    frames = landmarks.astype(np.float64)
    template = geometry.stable_template(frames)
    to_canonical = geometry.fit_similarity_batch(frames[:, geometry.STABLE_POINTS, :], template)
    shape = geometry.apply_affine(to_canonical, frames)
    to_pixels = geometry.invert_affine(to_canonical)
    # A similarity is (a, b, tx, ty): smooth those four numbers, then rebuild the matrix.
    params = np.stack([to_pixels[:, 0, 0], to_pixels[:, 1, 0], to_pixels[:, 0, 2], to_pixels[:, 1, 2]], axis=1)
    a, b, tx, ty = _savgol(params, _window(pose_window_s, fps, n), polyorder).T
    pose = np.stack([np.stack([a, -b, tx], axis=1), np.stack([b, a, ty], axis=1)], axis=1)
    smoothed = shape.copy()
    smoothed[:, RIGID_INDEX] = _savgol(shape[:, RIGID_INDEX], _window(rigid_window_s, fps, n), polyorder)
    smoothed[:, LIP_JAW_INDEX] = _savgol(shape[:, LIP_JAW_INDEX], _window(lip_window_s, fps, n), polyorder)
    return geometry.apply_affine(pose, smoothed).astype(np.float32)


def smooth_landmarks(landmarks: np.ndarray, valid: np.ndarray, cut_before: np.ndarray, fps: float,
                     **windows: float) -> np.ndarray:
    """Dense ``(T, 468, 2)`` landmarks smoothed within each run of valid frames between cuts.

    Invalid frames are returned unchanged; ``windows`` are ``smooth_run``'s window lengths.
    """
    out = np.array(landmarks, dtype=np.float32, copy=True)
    for start, stop in smoothing_runs(valid, cut_before):
        out[start:stop] = smooth_run(out[start:stop], fps, **windows)
    return out


def jitter(landmarks: np.ndarray, points: Sequence[int] = geometry.STABLE_POINTS) -> float:
    """Mean second-difference magnitude of ``points`` over inter-ocular distance (frame-to-frame shake)."""
    if len(landmarks) < 3:
        return 0.0
    accel = np.linalg.norm(np.diff(landmarks[:, list(points), :], n=2, axis=0), axis=-1)
    iod = geometry.inter_ocular_distance(landmarks)[1:-1]
    return float(np.mean(accel / np.maximum(iod[:, None], 1e-6)))
