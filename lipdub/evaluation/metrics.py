"""Quality figures shared by `lipdub eval`, the hold-out protocol and the QA stage."""
from __future__ import annotations

import cv2
import numpy as np

from lipdub.face.geometry import JAW_POINTS

# Lower face: jaw line plus the points under the nose (subnasale and the nostril bases), the
# region the renderer may change. Everything outside it must stay as it was.
UNDER_NOSE_POINTS: tuple[int, ...] = (2, 98, 327, 129, 358, 203, 423, 206, 426)
LOWER_FACE_POINTS: tuple[int, ...] = JAW_POINTS + UNDER_NOSE_POINTS


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the positions where both are finite; nan if undefined."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def av_offset(opening: np.ndarray, loudness: np.ndarray, max_lag: int = 10) -> tuple[int, float, float]:
    """Audio-visual offset in frames (positive: the mouth lags the sound), the correlation at that
    offset, and the correlation at zero offset."""
    best_lag, best_corr = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            corr = pearson(opening[lag:], loudness[: len(loudness) - lag] if lag else loudness)
        else:
            corr = pearson(opening[:lag], loudness[-lag:])
        if np.isfinite(corr) and corr > best_corr:
            best_lag, best_corr = lag, corr
    zero = pearson(opening, loudness)
    return best_lag, (float(best_corr) if np.isfinite(best_corr) else float("nan")), zero


def mouth_jitter(opening: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of the mouth opening (finite frames only)."""
    steps = np.abs(np.diff(np.asarray(opening, dtype=np.float64)))
    steps = steps[np.isfinite(steps)]
    return float(steps.mean()) if len(steps) else float("nan")


def lower_face_mask(shape: tuple[int, int], landmarks: np.ndarray | None, dilate_px: int = 12) -> np.ndarray:
    """Boolean mask of the lower face (convex hull of jaw and under-nose points), dilated."""
    mask = np.zeros(shape, dtype=np.uint8)
    if landmarks is None or not np.isfinite(landmarks).all() or not landmarks.any():
        return mask.astype(bool)
    hull = cv2.convexHull(landmarks[list(LOWER_FACE_POINTS)].astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 1)
    if dilate_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        mask = cv2.dilate(mask, kernel)
    return mask.astype(bool)


class OutsidePSNR:
    """Accumulates squared error outside the lower face over a video, then reports one PSNR."""

    def __init__(self) -> None:
        self.squared_error = 0.0
        self.count = 0

    def add(self, output: np.ndarray, source: np.ndarray, mask: np.ndarray) -> None:
        keep = ~mask
        diff = output.astype(np.int32)[keep] - source.astype(np.int32)[keep]
        self.squared_error += float((diff * diff).sum())
        self.count += diff.size

    def psnr_db(self) -> float:
        if self.count == 0:
            return float("nan")
        mse = self.squared_error / self.count
        return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
