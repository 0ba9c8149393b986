"""Where to look in a frame: the lower face (what may change), its edge band, the mouth box.

Everything is computed inside a box around the face, never over the whole frame: at 1280x720 a
full-frame mask and dilation per frame would cost more than the landmark model.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lipdub.evaluation.metrics import LOWER_FACE_POINTS
from lipdub.face import geometry

# The PSNR region's margin around the lower face, pixels (as `lipdub eval` always measured it).
LOWER_FACE_DILATE_PX = 12
# The seam band: from the lower face's edge this far inwards (inter-ocular distances); the
# renderer feathers its mask inside that band.
SEAM_BAND_DEPTH = 0.3
# Around the lips (inter-ocular distances), left out of the seam band: lips move by design.
LIP_MARGIN = 0.15
# Side of the square mouth crop used for flicker and the contact sheet (inter-ocular distances).
MOUTH_CROP_SIDE = 0.9


@dataclass(frozen=True)
class FaceRegions:
    """Masks over ``box`` (x0, y0, x1, y1 in frame pixels, clipped to the frame).

    ``lower_face``: what the renderer may change (dilated hull of jaw and under-nose points);
    ``seam_band``: the inner rim of that region without the lips, where a blend edge would show.
    """

    box: tuple[int, int, int, int]
    lower_face: np.ndarray  # (h, w) bool
    seam_band: np.ndarray  # (h, w) bool


def _hull_mask(points: np.ndarray, offset: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull((points - offset).astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask


def _within(mask: np.ndarray, distance: float) -> np.ndarray:
    """``mask`` grown by ``distance`` pixels (Euclidean), as bool.

    Why a distance transform and not a dilation: an elliptic kernel of radius 0.3 inter-ocular
    distances costs ~15 ms per frame at 512x512; the transform costs well under a millisecond.
    """
    return cv2.distanceTransform((mask == 0).view(np.uint8), cv2.DIST_L2, 3) <= distance


def _inside(mask: np.ndarray, distance: float) -> np.ndarray:
    """``mask`` shrunk by ``distance`` pixels (Euclidean), as bool."""
    return cv2.distanceTransform(mask, cv2.DIST_L2, 3) > distance


def face_regions(landmarks: np.ndarray, frame_shape: tuple[int, int]) -> FaceRegions | None:
    """Regions for one frame's landmarks ``(468, 2)``; None when they are missing or off-frame."""
    if landmarks is None or not np.isfinite(landmarks).all() or not landmarks.any():
        return None
    height, width = frame_shape
    lower = landmarks[list(LOWER_FACE_POINTS)]
    margin = LOWER_FACE_DILATE_PX + 2
    x0, y0 = np.floor(lower.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(lower.max(axis=0)).astype(int) + margin
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    shape = (y1 - y0, x1 - x0)
    offset = np.array([x0, y0], np.float32)
    hull = _hull_mask(lower, offset, shape)
    lower_face = _within(hull, LOWER_FACE_DILATE_PX)
    iod = float(geometry.inter_ocular_distance(landmarks))
    inner = _inside(hull, SEAM_BAND_DEPTH * iod)
    lips = _within(_hull_mask(landmarks[list(geometry.LIP_POINTS)], offset, shape), LIP_MARGIN * iod)
    band = lower_face & ~inner & ~lips
    return FaceRegions(box=(int(x0), int(y0), int(x1), int(y1)), lower_face=lower_face, seam_band=band)


def mouth_box(landmarks: np.ndarray, frame_shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """A square (x0, y0, x1, y1) around the lips, MOUTH_CROP_SIDE inter-ocular distances wide."""
    if landmarks is None or not np.isfinite(landmarks).all() or not landmarks.any():
        return None
    centre = landmarks[list(geometry.LIP_POINTS)].mean(axis=0)
    half = 0.5 * MOUTH_CROP_SIDE * float(geometry.inter_ocular_distance(landmarks))
    height, width = frame_shape
    x0, y0 = int(round(centre[0] - half)), int(round(centre[1] - half))
    x1, y1 = int(round(centre[0] + half)), int(round(centre[1] + half))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return x0, y0, x1, y1
