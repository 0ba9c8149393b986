"""Lower-face mask, colour matching and compositing of a warped mouth crop into a frame.

The mask spans from just below the nose to below the chin and from cheek to cheek, so the whole
moving part of the face (lips, chin, jaw line) comes from one source frame: a mask around the
lips alone would leave the target's chin where the new mouth needs it lower (a "double chin" or
stretched skin). Its edge sits on skin that does not move when speaking and is feathered wide
enough that residual colour or placement differences fade out instead of making a seam.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lipdub.render.atlas import CropGeometry
from lipdub.render.warp import BBox

# Below this the mask is treated as exactly zero: dropping it changes a pixel by less than one
# level, makes "pixels outside the mask are untouched" exact, and keeps the processed box small.
MASK_FLOOR = 1.0 / 256.0


@dataclass(frozen=True)
class CropMask:
    """A lower-face mask over the atlas crop, kept at low resolution (it is smooth)."""

    values: np.ndarray  # (h_small, w_small) float32 in [0, 1]
    to_crop: float  # crop pixels per mask pixel

    def rect(self) -> tuple[float, float, float, float] | None:
        """Crop-pixel rectangle (x0, y0, x1, y1) holding every non-zero value, or None."""
        x, y, w, h = cv2.boundingRect((self.values > 0).view(np.uint8))
        if w == 0 or h == 0:
            return None
        k = self.to_crop
        return (x - 1) * k, (y - 1) * k, (x + w) * k, (y + h) * k

    def full(self, size: tuple[int, int]) -> np.ndarray:
        """The mask at crop resolution ``size`` (w, h) (for inspection and tests)."""
        k = self.to_crop
        return cv2.warpAffine(self.values, np.array([[k, 0.0, 0.0], [0.0, k, 0.0]]), size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _polygon_px(points: np.ndarray, crop_geometry: CropGeometry, scale: float) -> np.ndarray:
    return np.round((points - crop_geometry.box[:2]) * scale * 16).astype(np.int32)


def lower_face_mask(
    frame_jaw: np.ndarray,
    entry_jaw: np.ndarray,
    nose_bottom: np.ndarray,
    crop_geometry: CropGeometry,
    *,
    feather: float = 0.05,
    side_inset: float = 0.12,
    chin_margin: float = 0.08,
    nose_gap: float = 0.04,
    downscale: int = 4,
) -> CropMask:
    """Feathered mask over the crop, 1 inside the lower face, 0 at the crop border.

    ``frame_jaw`` is the target frame's own jaw outline and ``entry_jaw`` the pasted crop's (after
    refinement), canonical ``(17, 2)`` each. The bottom follows the lower of the two chins (plus
    ``chin_margin``) so neither chin shows twice; the sides stay ``side_inset`` inside *both* face
    outlines, so no background from either frame crosses a cheek (a turned head brings the
    silhouette close to the jaw landmarks on one side). Drawn at 1/``downscale`` resolution and
    blurred there: cheap, and the mask is smooth anyway.
    """
    w, h = crop_geometry.size
    jaws = [np.asarray(j, dtype=np.float64).reshape(-1, 2) for j in (frame_jaw, entry_jaw)]
    nose = np.asarray(nose_bottom, dtype=np.float64).reshape(-1, 2)
    cx = float(nose[:, 0].mean())
    top = float(nose[:, 1].max()) + nose_gap
    nose_line = np.stack([nose[:, 0], np.full(len(nose), top)], axis=1)
    small_w, small_h = max(w // downscale, 4), max(h // downscale, 4)
    scale = crop_geometry.pixels_per_unit * small_w / w

    def lowness(jaw: np.ndarray) -> np.ndarray:
        """0 at the nose line, 1 at the chin: how far down the face each jaw point is."""
        return np.clip((jaw[:, 1] - top) / max(float(jaw[:, 1].max()) - top, 1e-3), 0.0, 1.0)

    # Bottom: the union of both jaws, pushed down (most at the chin) so both chins lie inside;
    # the pasted frame's chin then replaces the target's instead of showing next to it when the
    # mouths differ a lot. Pushed down, not outward: beside the jaw there may be hair or
    # background that differs between the two frames.
    pushed = [jaw + np.stack([np.zeros(len(jaw)), chin_margin * lowness(jaw) ** 2], axis=1) for jaw in jaws]
    union = np.concatenate(pushed + [nose_line])
    union[:, 1] = np.maximum(union[:, 1], top)
    small = np.zeros((small_h, small_w), dtype=np.uint8)
    cv2.fillConvexPoly(small, cv2.convexHull(_polygon_px(union, crop_geometry, scale)), 255, lineType=cv2.LINE_AA, shift=4)
    for jaw in jaws:
        # Sides: at cheek level (upper jaw points) stay inside each face outline, so no
        # background from either frame crosses a cheek; lower down the jaw curves inward and the
        # union above decides, so the limit just runs straight down from there.
        upper = jaw[lowness(jaw) < 0.55]
        if len(upper) == 0:
            continue
        offset = upper[:, 0] - cx
        inset = np.stack([cx + np.sign(offset) * np.maximum(np.abs(offset) - side_inset, 0.0), upper[:, 1]], axis=1)
        left, right = inset[np.argmin(inset[:, 0])], inset[np.argmax(inset[:, 0])]
        far = 10.0  # canonical units: far below the crop
        limit_polygon = np.concatenate([inset, nose_line, [[left[0], far], [right[0], far]]])
        limit = np.zeros_like(small)
        cv2.fillConvexPoly(limit, cv2.convexHull(_polygon_px(limit_polygon, crop_geometry, scale)), 255, lineType=cv2.LINE_AA, shift=4)
        small = np.minimum(small, limit)
    sigma = max(feather * scale, 0.5)
    mask = cv2.GaussianBlur(small.astype(np.float32) * (1.0 / 255.0), (0, 0), sigma)
    # Fade out before the crop's border (a turned head can bring the face outline close to it):
    # a mask cut off at the border would paste a hard edge.
    ramp_x = np.clip((np.minimum(np.arange(small_w), small_w - 1 - np.arange(small_w)) - 1.0) / (2.0 * sigma), 0.0, 1.0)
    ramp_y = np.clip((np.minimum(np.arange(small_h), small_h - 1 - np.arange(small_h)) - 1.0) / (2.0 * sigma), 0.0, 1.0)
    mask *= np.minimum.outer(ramp_y, ramp_x).astype(np.float32)
    mask[mask < MASK_FLOOR] = 0.0
    return CropMask(values=mask, to_crop=crop_geometry.pixels_per_unit / scale)


def colour_match(patch: np.ndarray, target: np.ndarray, alpha: np.ndarray, *, ring: tuple[float, float] = (0.03, 0.6), max_gain: float = 1.15) -> np.ndarray:
    """``patch`` (uint8) with per-channel mean/std matched to ``target`` on the mask's outer ring.

    The ring is the feathered edge, where the pasted crop and the frame show the same skin: any
    difference there is lighting drift between the two source frames, and removing it is what
    stops a halo. Gains are bounded so a bad ring (hair, a hand) cannot recolour the mouth.
    """
    band = ((alpha > ring[0]) & (alpha < ring[1])).astype(np.uint8)
    if cv2.countNonZero(band) < 32:
        return patch
    src_mean, src_std = cv2.meanStdDev(patch, mask=band)
    dst_mean, dst_std = cv2.meanStdDev(target, mask=band)
    gain = np.clip(dst_std / np.maximum(src_std, 1.0), 1.0 / max_gain, max_gain).ravel()
    offset = dst_mean.ravel() - gain * src_mean.ravel()
    matrix = np.zeros((3, 4), dtype=np.float32)
    matrix[[0, 1, 2], [0, 1, 2]] = gain
    matrix[:, 3] = offset
    return cv2.transform(patch, matrix)


def composite(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray, bbox: BBox) -> np.ndarray:
    """A copy of ``frame`` with uint8 ``patch`` alpha-blended into ``bbox``; alpha 0 leaves pixels exact."""
    x0, y0, x1, y1 = bbox
    out = frame.copy()
    region = np.ascontiguousarray(out[y0:y1, x0:x1])
    out[y0:y1, x0:x1] = cv2.blendLinear(region, patch, 1.0 - alpha, alpha)
    return out
