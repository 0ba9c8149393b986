"""The pixel work of one composited frame, apart from the decisions that lead to it.

`lipdub.render.renderer.MouthCompositor` decides per frame what to paste where (entries, shapes,
mask, box: small arrays); a painter turns that `BoxJob` into pixels: warp the crop(s), cross-fade,
warp the mask, colour-match, alpha-blend. `OpenCvPainter` is the CPU default;
`lipdub.render.torch_painter.TorchPainter` does the same on a torch device (a GPU), within a
measured tolerance of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from lipdub.render import blend, warp
from lipdub.render.atlas import MouthAtlas
from lipdub.render.blend import CropMask

__all__ = ["Layer", "BoxJob", "Painter", "OpenCvPainter"]


@dataclass(frozen=True)
class Layer:
    """One atlas crop placed in the box."""

    entry: int
    local: np.ndarray  # (2, 3) crop pixels -> box pixels
    coarse_map: np.ndarray | None  # (ny, nx, 2) `RefinementWarper.coarse_map`; None: the plain affine
    step: int  # box pixels between coarse nodes
    sharp: bool  # bicubic (the shown crop) or bilinear (a crop fading out)


@dataclass(frozen=True)
class BoxJob:
    """Everything the pixels of one frame depend on besides the frame and the atlas."""

    bbox: warp.BBox  # x0, y0, x1, y1 in frame pixels: nothing outside it changes
    primary: Layer
    secondary: Layer | None  # the entry being dissolved out after a jump
    share: float  # the secondary's share
    mask: CropMask
    matrix: np.ndarray  # (2, 3) crop pixels -> frame pixels (the mask's placement)
    weight: float  # blend weight of the whole paste
    colour_match: bool

    @property
    def size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.bbox
        return x1 - x0, y1 - y0


class Painter(Protocol):
    def paint(self, frame: np.ndarray, job: BoxJob) -> np.ndarray:
        """A new frame: ``frame`` with the job's paste blended into ``job.bbox`` (``frame`` is not modified)."""


class OpenCvPainter:
    """The CPU painter: OpenCV remaps and blends, one frame at a time."""

    def __init__(self, atlas: MouthAtlas) -> None:
        self.atlas = atlas

    def _layer(self, layer: Layer, size: tuple[int, int]) -> np.ndarray:
        crop = np.ascontiguousarray(self.atlas.crops[layer.entry])
        interpolation = cv2.INTER_CUBIC if layer.sharp else cv2.INTER_LINEAR
        if layer.coarse_map is None:
            return cv2.warpAffine(crop, layer.local, size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
        maps = warp.upsample_map(layer.coarse_map, layer.step, size)
        return cv2.remap(crop, maps, None, interpolation, borderMode=cv2.BORDER_REPLICATE)

    def paint(self, frame: np.ndarray, job: BoxJob) -> np.ndarray:
        patch = self._layer(job.primary, job.size)
        if job.secondary is not None:
            patch = cv2.addWeighted(patch, 1.0 - job.share, self._layer(job.secondary, job.size), job.share, 0.0)
        alpha = warp.warp_mask_to_frame(job.mask.values, job.mask.to_crop, job.matrix, job.bbox)
        alpha *= job.weight
        alpha[alpha < blend.MASK_FLOOR] = 0.0
        x0, y0, x1, y1 = job.bbox
        if job.colour_match:
            patch = blend.colour_match(patch, frame[y0:y1, x0:x1], alpha)
        return blend.composite(frame, patch, alpha, job.bbox)
