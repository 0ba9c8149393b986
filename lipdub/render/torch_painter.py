"""`TorchPainter`: the painter's pixel work (`lipdub.render.painter`) as torch ops on any device.

On a GPU the warp (``grid_sample`` for OpenCV's remap), cross-fade, mask warp, colour match and
blend run on the card; only the frame's box travels there and back, decode and encode stay on the
CPU. The same code runs on the CPU device, which is how it is tested against `OpenCvPainter`
where no GPU is present: the two agree within a measured PSNR (tests/lipdub/render/test_torch_painter.py).

Where OpenCV and torch differ: OpenCV's remap and warpAffine quantise sample positions to 1/32
pixel and its uint8 results round after every step; here positions are exact and the uint8
rounding is done at the same steps, so the differences are a fraction of a level on most pixels.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

from lipdub.render import blend, warp
from lipdub.render.atlas import MouthAtlas
from lipdub.render.painter import BoxJob, Layer

__all__ = ["TorchPainter"]

# Colour match's ring and gain bound, as lipdub.render.blend.colour_match has them.
RING = (0.03, 0.6)
MAX_GAIN = 1.15
MIN_RING_PIXELS = 32


def _to_uint8_levels(values: torch.Tensor) -> torch.Tensor:
    """Round and saturate to 0..255, as OpenCV stores a uint8 result (kept as float)."""
    return torch.clamp(torch.round(values), 0.0, 255.0)


class TorchPainter:
    """Paints `BoxJob`s with torch on ``device``; atlas crops are kept on the device (LRU)."""

    def __init__(self, atlas: MouthAtlas, device: str | torch.device = "cpu", *, cached_crops: int = 256) -> None:
        self.atlas = atlas
        self.device = torch.device(device)
        self._crops: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cached_crops = cached_crops

    def _crop(self, entry: int) -> torch.Tensor:
        """Atlas crop ``entry`` as (1, 3, h, w) float32 on the device."""
        crop = self._crops.get(entry)
        if crop is None:
            pixels = torch.from_numpy(np.array(self.atlas.crops[entry]))  # a copy: the atlas is a read-only memmap
            crop = pixels.to(self.device).permute(2, 0, 1)[None].float()
            self._crops[entry] = crop
            if len(self._crops) > self._cached_crops:
                self._crops.popitem(last=False)
        else:
            self._crops.move_to_end(entry)
        return crop

    def _box_grid(self, size: tuple[int, int]) -> torch.Tensor:
        """(h, w, 2) box pixel coordinates (x, y)."""
        w, h = size
        ys, xs = torch.meshgrid(torch.arange(h, device=self.device, dtype=torch.float32),
                                torch.arange(w, device=self.device, dtype=torch.float32), indexing="ij")
        return torch.stack([xs, ys], dim=-1)

    def _affine_points(self, box_to_source: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """(h, w, 2) source coordinates of each box pixel under the 2x3 affine ``box_to_source``."""
        m = torch.as_tensor(box_to_source, dtype=torch.float32, device=self.device)
        return self._box_grid(size) @ m[:, :2].T + m[:, 2]

    def _map_points(self, layer: Layer, size: tuple[int, int]) -> torch.Tensor:
        """(h, w, 2) crop coordinates sampled by each box pixel (the warp's backward map)."""
        if layer.coarse_map is None:
            return self._affine_points(warp.invert_affine_2x3(layer.local), size)
        w, h = size
        step = layer.step
        ny, nx = layer.coarse_map.shape[:2]
        coarse = torch.as_tensor(layer.coarse_map, device=self.device).permute(2, 0, 1)[None]
        # Bilinear with half-pixel centres: what cv2.resize does when enlarging (warp.upsample_map).
        full = F.interpolate(coarse, size=(ny * step, nx * step), mode="bilinear", align_corners=False)
        return full[0, :, step:step + h, step:step + w].permute(1, 2, 0)

    @staticmethod
    def _sample(image: torch.Tensor, points: torch.Tensor, mode: str, padding: str) -> torch.Tensor:
        """``image`` (1, C, H, W) sampled at pixel ``points`` (h, w, 2) -> (C, h, w)."""
        height, width = image.shape[-2:]
        scale = torch.tensor([2.0 / width, 2.0 / height], device=points.device)
        grid = (points + 0.5) * scale - 1.0  # pixel centres -> [-1, 1] (align_corners=False)
        return F.grid_sample(image, grid[None], mode=mode, padding_mode=padding, align_corners=False)[0]

    def _layer(self, layer: Layer, size: tuple[int, int]) -> torch.Tensor:
        """The warped crop in the box, (3, h, w) in uint8 levels."""
        mode = "bicubic" if layer.sharp else "bilinear"
        return _to_uint8_levels(self._sample(self._crop(layer.entry), self._map_points(layer, size), mode, "border"))

    def _alpha(self, job: BoxJob) -> torch.Tensor:
        """The mask warped into the box, weighted and floored, (h, w)."""
        mask_to_box = np.array(job.matrix, dtype=np.float64, copy=True)
        mask_to_box[:, :2] *= job.mask.to_crop
        mask_to_box[:, 2] -= job.bbox[:2]
        points = self._affine_points(warp.invert_affine_2x3(mask_to_box), job.size)
        mask = torch.as_tensor(job.mask.values, device=self.device)[None, None]
        alpha = self._sample(mask, points, "bilinear", "zeros")[0] * job.weight
        return torch.where(alpha < blend.MASK_FLOOR, torch.zeros_like(alpha), alpha)

    @staticmethod
    def _colour_match(patch: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Per-channel mean/std of ``patch`` matched to ``target`` on the mask's feathered ring."""
        ring = (alpha > RING[0]) & (alpha < RING[1])
        count = int(ring.sum())
        if count < MIN_RING_PIXELS:
            return patch
        src, dst = patch[:, ring], target[:, ring]
        src_mean, dst_mean = src.mean(dim=1), dst.mean(dim=1)
        src_std = src.std(dim=1, unbiased=False)
        dst_std = dst.std(dim=1, unbiased=False)
        gain = torch.clamp(dst_std / torch.clamp(src_std, min=1.0), 1.0 / MAX_GAIN, MAX_GAIN)
        offset = dst_mean - gain * src_mean
        return _to_uint8_levels(patch * gain[:, None, None] + offset[:, None, None])

    @torch.inference_mode()
    def paint(self, frame: np.ndarray, job: BoxJob) -> np.ndarray:
        x0, y0, x1, y1 = job.bbox
        size = job.size
        patch = self._layer(job.primary, size)
        if job.secondary is not None:
            patch = _to_uint8_levels(patch * (1.0 - job.share) + self._layer(job.secondary, size) * job.share)
        alpha = self._alpha(job)
        region = torch.from_numpy(np.ascontiguousarray(frame[y0:y1, x0:x1])).to(self.device).permute(2, 0, 1).float()
        if job.colour_match:
            patch = self._colour_match(patch, region, alpha)
        blended = _to_uint8_levels(region + (patch - region) * alpha)
        out = frame.copy()
        out[y0:y1, x0:x1] = blended.permute(1, 2, 0).to(torch.uint8).cpu().numpy()
        return out
