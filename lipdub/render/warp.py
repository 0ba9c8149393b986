"""Place an atlas crop on a target frame's face: similarity placement plus a small shape refinement.

The crop lives in the canonical face frame, so putting it on any frame is the inverse of that
frame's canonical alignment (fitted on points that do not move when speaking). The chosen crop's
mouth is already close to the target; a smooth displacement field (Gaussian RBF between the
speaker's model shape at the crop's own metrics and at the target metrics) moves lips and jaw
the rest of the way. Maps are composed so the crop is resampled once, and only the face's
bounding box is touched.
"""
from __future__ import annotations

import cv2
import numpy as np

from lipdub.face import geometry
from lipdub.face.geometry import invert_affine_2x3  # noqa: F401 - used here and by the compositors as warp.invert_affine_2x3
from lipdub.render.atlas import CropGeometry

BBox = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in frame pixels


def canonical_to_frame(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``(T, 2, 3)`` similarities mapping canonical coordinates into each frame's pixels."""
    return invert_affine_2x3(geometry.face_to_canonical_batch(landmarks, template))


def smooth_placements(matrices: np.ndarray, restart: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smooth ``(T, 2, 3)`` similarities over time, restarting where the picture jumps.

    Face Mesh jitters by a fraction of a pixel per frame; pasting at the raw placement makes the
    new mouth shimmer against a still face. A similarity's entries are linear in (scale*cos,
    scale*sin, translation), so averaging them stays a similarity. Each piece between restarts
    is smoothed on its own, with the kernel renormalised at its ends (no lag at the edges).
    """
    out = np.array(matrices, dtype=np.float64, copy=True)
    if sigma <= 0 or len(out) < 2:
        return out
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    starts = np.flatnonzero(np.asarray(restart, dtype=bool)).tolist()
    bounds = sorted(set([0, len(out)] + [s for s in starts if 0 < s < len(out)]))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        piece = out[lo:hi].reshape(hi - lo, 6)
        if hi - lo < 2:
            continue
        padded = np.zeros((hi - lo + 2 * radius, 6))
        padded[radius:radius + hi - lo] = piece
        norm = np.convolve(np.r_[np.zeros(radius), np.ones(hi - lo), np.zeros(radius)], kernel, mode="valid")
        smoothed = np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(6)], axis=1)
        out[lo:hi] = (smoothed / norm[:, None]).reshape(hi - lo, 2, 3)
    return out


def crop_to_frame(canonical_to_frame_matrix: np.ndarray, crop_geometry: CropGeometry) -> np.ndarray:
    """2x3 affine(s) ``(..., 2, 3)`` from atlas crop pixels to frame pixels."""
    outer = np.asarray(canonical_to_frame_matrix, dtype=np.float64)
    inner = crop_geometry.crop_to_canonical()
    linear = np.einsum("...ij,jk->...ik", outer[..., :2], inner[:, :2])
    offset = np.einsum("...ij,j->...i", outer[..., :2], inner[:, 2]) + outer[..., 2]
    return np.concatenate([linear, offset[..., None]], axis=-1)


def bounding_box(matrix: np.ndarray, rect: tuple[float, float, float, float], frame_size: tuple[int, int]) -> BBox | None:
    """Frame-pixel box covering crop rectangle ``rect`` (x0, y0, x1, y1) once warped; clipped; None when off-frame."""
    rx0, ry0, rx1, ry1 = rect
    corners = geometry.apply_affine(matrix, np.array([[rx0, ry0], [rx1, ry0], [rx0, ry1], [rx1, ry1]], dtype=np.float64))
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    fw, fh = frame_size
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, fw), min(y1, fh)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1), int(y1)


class RefinementWarper:
    """Backward maps that move a crop's lips and jaw from one canonical shape to another.

    An output pixel p of the frame box samples the crop at ``F(p) = q + D(q)`` with
    ``q = A^-1 p`` (A: crop -> frame placement) and D a regularised Gaussian RBF through
    ``source - target`` at the target points. F is smooth (affine plus a smooth field), so it is
    evaluated on a coarse grid of the frame box and upsampled by ``cv2.resize``, whose bilinear
    interpolation reproduces the affine part exactly: one small RBF evaluation and one resize per
    frame instead of per-pixel work. Shifts are capped at ``max_shift`` canonical units so a bad
    target cannot tear the face.
    """

    def __init__(self, crop_geometry: CropGeometry, *, sigma: float = 0.09, max_shift: float = 0.06, max_gradient: float = 0.5, grid_step: int = 8, regularisation: float = 0.05) -> None:
        self.geometry = crop_geometry
        self.sigma_px = sigma * crop_geometry.pixels_per_unit
        self.limit_px = max_shift * crop_geometry.pixels_per_unit
        self.step = grid_step
        self.max_gradient = max_gradient
        self.regularisation = regularisation
        self.to_crop = crop_geometry.canonical_to_crop()

    def field(self, source_shape: np.ndarray, target_shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RBF (centres in crop pixels, weights) of the displacement ``source - target``."""
        centres = geometry.apply_affine(self.to_crop, np.asarray(target_shape, dtype=np.float64))
        values = (np.asarray(source_shape, dtype=np.float64) - np.asarray(target_shape, dtype=np.float64)) * self.geometry.pixels_per_unit
        diff = centres[:, None, :] - centres[None, :, :]
        kernel = np.exp((diff ** 2).sum(-1) * (-0.5 / self.sigma_px ** 2))
        # cv2.solve / einsum rather than LAPACK / BLAS: OpenBLAS threads spinning after a tiny
        # solve were measured to steal a third of a 2-core frame budget from OpenCV's own threads.
        _, weights = cv2.solve(kernel + self.regularisation * np.eye(len(centres)), values, flags=cv2.DECOMP_CHOLESKY)
        return centres, weights

    def displacement_at(self, points: np.ndarray, centres: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Capped displacement ``(N, 2)`` (crop pixels) at crop-pixel ``points``."""
        # float32: half the cost of float64 exp, and sub-1e-4-pixel error at these magnitudes.
        p = points.astype(np.float32)
        c = centres.astype(np.float32)
        d2 = np.square(p[:, None, 0] - c[None, :, 0])
        d2 += np.square(p[:, None, 1] - c[None, :, 1])
        d2 *= np.float32(-0.5 / self.sigma_px ** 2)
        field = np.einsum("nk,kc->nc", np.exp(d2, out=d2), weights.astype(np.float32)).astype(np.float64)
        norm = np.sqrt((field ** 2).sum(axis=1, keepdims=True))
        return field * np.minimum(1.0, self.limit_px / np.maximum(norm, 1e-9))

    def coarse_map(self, source_shape: np.ndarray, target_shape: np.ndarray, local: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``(ny, nx, 2)`` float32 crop-pixel coordinates at the coarse nodes of a frame box of
        ``size`` (w, h): node ``(j, i)`` sits at box pixel ``((i + 0.5) * step - 0.5 - step, ...)``,
        one node beyond each side. `upsample_map` (or the torch painter) turns it into a full map.

        ``local`` maps crop pixels to box pixels.
        """
        w, h = size
        g = self.step
        # One extra node beyond each side, so every box pixel lies between node centres;
        # cv2.resize puts coarse pixel j's centre at (j + 0.5) * g - 0.5.
        nx, ny = -(-w // g) + 2, -(-h // g) + 2
        gx = (np.arange(nx) - 0.5) * g - 0.5
        gy = (np.arange(ny) - 0.5) * g - 0.5
        nodes = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
        crop_points = geometry.apply_affine(invert_affine_2x3(local), nodes)
        centres, weights = self.field(source_shape, target_shape)
        shift = self.displacement_at(crop_points, centres, weights).reshape(ny, nx, 2)
        # Keep the map one-to-one: where the field changes faster than max_gradient (crop pixels
        # per crop pixel) it would fold lip texture over itself (a doubled lip); scale it down.
        scale = float(np.sqrt(abs(local[0, 0] * local[1, 1] - local[0, 1] * local[1, 0])))  # box px per crop px
        spacing = g / max(scale, 1e-6)  # node spacing in crop pixels
        gradient = max(float(np.abs(np.diff(shift, axis=0)).max(initial=0.0)), float(np.abs(np.diff(shift, axis=1)).max(initial=0.0))) / spacing
        if gradient > self.max_gradient:
            shift *= self.max_gradient / gradient
        return (crop_points.reshape(ny, nx, 2) + shift).astype(np.float32)

    def frame_maps(self, source_shape: np.ndarray, target_shape: np.ndarray, local: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``(h, w, 2)`` float32 map for ``cv2.remap`` of the crop into a frame box of ``size`` (w, h).

        ``local`` maps crop pixels to box pixels.
        """
        return upsample_map(self.coarse_map(source_shape, target_shape, local, size), self.step, size)


def upsample_map(coarse: np.ndarray, step: int, size: tuple[int, int]) -> np.ndarray:
    """The full ``(h, w, 2)`` map of a `RefinementWarper.coarse_map`: bilinear between nodes,
    which reproduces the affine part exactly."""
    ny, nx = coarse.shape[:2]
    w, h = size
    full = cv2.resize(coarse, (nx * step, ny * step), interpolation=cv2.INTER_LINEAR)
    return full[step:step + h, step:step + w]


def box_affine(matrix: np.ndarray, bbox: BBox) -> np.ndarray:
    """``matrix`` (crop pixels -> frame pixels) as crop pixels -> pixels of the frame box ``bbox``."""
    local = np.array(matrix, dtype=np.float64, copy=True)
    local[:, 2] -= bbox[:2]
    return local


def warp_to_frame(crop: np.ndarray, matrix: np.ndarray, bbox: BBox, warper: RefinementWarper | None = None, shapes: tuple[np.ndarray, np.ndarray] | None = None, *, sharp: bool = True) -> np.ndarray:
    """The crop resampled into the frame's ``bbox`` (uint8 ``(y1-y0, x1-x0, 3)``).

    ``matrix`` maps crop pixels to frame pixels. With a ``warper`` and ``shapes`` = (the crop's
    own shape, the wanted shape), canonical ``(57, 2)`` each, the lips are moved in the same single
    resampling. Bicubic (``sharp``) keeps teeth and lip edges crisp; bilinear is used for the
    fading-out crop of a cross-fade, where it is not seen.
    """
    x0, y0, x1, y1 = bbox
    local = box_affine(matrix, bbox)
    size = (x1 - x0, y1 - y0)
    interpolation = cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR
    if warper is None or shapes is None:
        return cv2.warpAffine(np.ascontiguousarray(crop), local, size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    frame_maps = warper.frame_maps(shapes[0], shapes[1], local, size)
    return cv2.remap(np.ascontiguousarray(crop), frame_maps, None, interpolation, borderMode=cv2.BORDER_REPLICATE)


def warp_mask_to_frame(mask: np.ndarray, mask_to_crop: float, matrix: np.ndarray, bbox: BBox) -> np.ndarray:
    """A (low-resolution) crop-space float32 mask resampled into the frame's ``bbox``; zero outside.

    ``mask_to_crop`` is the crop pixels per mask pixel: the small mask is warped straight into
    the frame, the mask is smooth so nothing is lost by skipping a full-size intermediate.
    """
    x0, y0, x1, y1 = bbox
    local = np.array(matrix, dtype=np.float64, copy=True)
    local[:, :2] *= mask_to_crop
    local[:, 2] -= (x0, y0)
    return cv2.warpAffine(mask, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
