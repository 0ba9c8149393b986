"""The per-speaker mouth atlas: aligned lower-face crops of the source video's own frames.

Retrieval-based rendering (in the spirit of Video Rewrite) only ever shows mouths the speaker
really made, so teeth, tongue, lips and beard stay theirs and stay sharp. Each atlas entry is one
source frame's lower face resampled into the canonical face frame (eyes on the x axis,
inter-ocular distance 1) at the video's median face size, together with what the selector and
the warper need: its measured [opening, width], a head-pose proxy, its canonical lip and jaw
landmarks and where it sits in the source (for "play consecutive frames" preferences).

Crops live in a uint8 ``.npy`` opened as a memmap, so a long video costs disk, not memory, and
the number of entries is capped (long videos are subsampled in short contiguous chunks that keep
rare mouth shapes), so the atlas does not grow with video length. The analyze stage cuts the
crops from the full-resolution face regions its analysis pass kept (`region_spool.py`), so the
source is decoded once for both.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterable, Protocol

import cv2
import numpy as np

from lipdub.errors import InputError
from lipdub.face import geometry
from lipdub.render.mouth_shape import MouthShapeBasis

log = logging.getLogger(__name__)

CROPS_FILE = "crops.npy"
META_FILE = "atlas.npz"


@dataclass(frozen=True)
class CropGeometry:
    """Where the atlas crops sit in the canonical face frame and at what resolution."""

    box: np.ndarray  # (4,) canonical x0, y0, x1, y1
    pixels_per_unit: float  # crop pixels per canonical unit (= inter-ocular distance)

    @property
    def size(self) -> tuple[int, int]:
        """Crop (width, height) in pixels."""
        x0, y0, x1, y1 = self.box
        return int(round((x1 - x0) * self.pixels_per_unit)), int(round((y1 - y0) * self.pixels_per_unit))

    def canonical_to_crop(self) -> np.ndarray:
        """2x3 affine from canonical coordinates to crop pixels."""
        s = self.pixels_per_unit
        return np.array([[s, 0.0, -s * self.box[0]], [0.0, s, -s * self.box[1]]])

    def crop_to_canonical(self) -> np.ndarray:
        """2x3 affine from crop pixels to canonical coordinates."""
        s = 1.0 / self.pixels_per_unit
        return np.array([[s, 0.0, self.box[0]], [0.0, s, self.box[1]]])


class MouthAtlas:
    """Aligned lower-face crops plus per-entry metadata; crops are a read-only memmap.

    Pickles as its directory path (re-opened lazily on the other side), so it can be handed to
    Ray workers without shipping the crops.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        meta_path = os.path.join(directory, META_FILE)
        if not os.path.exists(meta_path):
            raise InputError(f"no mouth atlas at {directory} (missing {META_FILE})")
        with np.load(meta_path) as meta:
            self.source_index = meta["source_index"].astype(np.int64)
            self.run_id = meta["run_id"].astype(np.int64)
            self.metrics = meta["metrics"].astype(np.float32)
            self.pose = meta["pose"].astype(np.float32)
            self.shapes = meta["shapes"].astype(np.float32)
            self.template = meta["template"].astype(np.float64)
            self.geometry = CropGeometry(box=meta["crop_box"].astype(np.float64), pixels_per_unit=float(meta["pixels_per_unit"]))
            self.n_source_frames = int(meta["n_source_frames"])
            self.basis = MouthShapeBasis.from_arrays(meta)
        self._crops: np.ndarray | None = None
        # Entry of source frame f, or -1: lets the renderer find "the next frame" of a run.
        self.entry_of_source = np.full(self.n_source_frames, -1, dtype=np.int64)
        self.entry_of_source[self.source_index] = np.arange(len(self.source_index))

    @property
    def crops(self) -> np.ndarray:
        """``(E, h, w, 3)`` uint8 RGB crops (memmap, opened on first use)."""
        if self._crops is None:
            self._crops = np.load(os.path.join(self.directory, CROPS_FILE), mmap_mode="r")
        return self._crops

    def __len__(self) -> int:
        return int(len(self.source_index))

    def __getstate__(self) -> dict:
        return {"directory": self.directory}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["directory"])

    def successor(self, entry: int, steps: int = 1) -> int:
        """The entry showing the source frame ``steps`` after ``entry`` in the same run, or -1."""
        frame = int(self.source_index[entry]) + steps
        if frame < 0 or frame >= self.n_source_frames:
            return -1
        other = int(self.entry_of_source[frame])
        if other < 0 or self.run_id[other] != self.run_id[entry]:
            return -1
        return other


def continuity_runs(valid: np.ndarray, cut_before: np.ndarray | None = None) -> np.ndarray:
    """Run id per frame: consecutive valid frames with no shot cut between them share an id (-1 invalid)."""
    valid = np.asarray(valid, dtype=bool)
    starts = valid.copy()
    starts[1:] &= ~valid[:-1]
    if cut_before is not None:
        starts |= np.asarray(cut_before, dtype=bool) & valid
    run = np.cumsum(starts) - 1
    return np.where(valid, run, -1).astype(np.int64)


def choose_atlas_frames(metrics: np.ndarray, run_id: np.ndarray, max_entries: int, chunk: int = 8) -> np.ndarray:
    """Source frames to keep, at most ``max_entries``, in short contiguous chunks favouring rare shapes.

    Chunks keep the "play consecutive frames" option alive for the selector; weighting each frame
    by the inverse population of its (opening, width) bin makes the kept set cover wide-open and
    unusual mouths even when a long video is mostly closed-mouth listening.
    """
    candidates = np.flatnonzero(run_id >= 0)
    if len(candidates) <= max_entries:
        return candidates
    good = metrics[candidates]
    bins = []
    for axis in range(2):
        edges = np.quantile(good[:, axis], np.linspace(0, 1, 13)[1:-1])
        bins.append(np.searchsorted(edges, good[:, axis]))
    # Opening is binned on its value range too, so the rare very open frames get their own bins.
    span = np.linspace(good[:, 0].min(), good[:, 0].max() + 1e-9, 13)[1:-1]
    key = (bins[0] * 16 + bins[1]) * 16 + np.searchsorted(span, good[:, 0])
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    weight = 1.0 / counts[inverse]
    # Chunk = up to `chunk` consecutive candidate frames of the same run.
    runs = run_id[candidates]
    run_start = np.ones(len(candidates), dtype=bool)
    run_start[1:] = runs[1:] != runs[:-1]
    first_of_run = np.maximum.accumulate(np.where(run_start, np.arange(len(candidates)), 0))
    position = np.arange(len(candidates)) - first_of_run
    chunk_id = np.cumsum(run_start | (position % chunk == 0)) - 1
    chunk_weight = np.bincount(chunk_id, weights=weight)
    chunk_size = np.bincount(chunk_id)
    # Half the budget goes to the chunks richest in rare shapes, the rest is spread evenly over
    # time so common shapes (rest, closures) keep their natural share and every scene is sampled.
    order = np.argsort(-chunk_weight / np.sqrt(chunk_size), kind="stable")
    kept = np.zeros(len(chunk_size), dtype=bool)
    kept[order[np.cumsum(chunk_size[order]) <= max_entries // 2]] = True
    remaining = np.flatnonzero(~kept)
    budget = max_entries - int(chunk_size[kept].sum())
    n_even = min(len(remaining), int(budget // max(chunk_size[remaining].mean(), 1.0)) if len(remaining) else 0)
    while n_even > 0:
        pick = remaining[np.linspace(0, len(remaining) - 1, n_even).round().astype(np.int64)]
        if chunk_size[pick].sum() <= budget:
            kept[pick] = True
            break
        n_even -= max(1, n_even // 20)
    keep = kept[chunk_id]
    return candidates[keep]


def _crop_geometry(canonical: np.ndarray, median_iod: float, max_crop_side: int) -> CropGeometry:
    """Canonical box around the lower face with room for the mask's feather and the colour ring."""
    jaw = canonical[:, [geometry.MOUTH_SHAPE_POINTS.index(p) for p in geometry.JAW_POINTS], :]
    # Wide enough for the most turned head in the video (plus the mask's feather), not just the typical one.
    x0 = float(np.percentile(jaw[..., 0], 0.5)) - 0.15
    x1 = float(np.percentile(jaw[..., 0], 99.5)) + 0.15
    y1 = float(np.percentile(canonical[:, geometry.MOUTH_SHAPE_POINTS.index(geometry.CHIN), 1], 99)) + 0.3
    y0 = 0.3  # just under the eyes' lower lids: the nose bottom sits near 0.5 in these units
    ppu = float(median_iod)  # never upscale: the source's own resolution is the sharpest we have
    ppu = min(ppu, max_crop_side / max(x1 - x0, y1 - y0))
    return CropGeometry(box=np.array([x0, y0, x1, y1]), pixels_per_unit=max(ppu, 8.0))


class RegionSource(Protocol):
    """Full-resolution pixels around the face, kept while the video was analysed (`RegionSpool`)."""

    evicted: bool

    def frames(self) -> np.ndarray: ...

    def region(self, frame_index: int, needed: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int] | None: ...


def build_mouth_atlas(
    frames_iter: Iterable[np.ndarray],
    landmarks: np.ndarray,
    valid: np.ndarray,
    *,
    work_dir: str,
    cut_before: np.ndarray | None = None,
    max_entries: int = 3000,
    max_crop_side: int = 448,
    regions: RegionSource | None = None,
) -> MouthAtlas:
    """Build the atlas from the source frames (in order) and their speaker landmarks ``(T, 468, 2)``.

    ``regions`` (the analysis pass's `RegionSpool`): crops are cut from its full-resolution
    regions; ``frames_iter`` is then read only for frames it cannot serve (none, usually), and
    when it had to drop frames the atlas chooses among the frames it kept. Without it, reads
    ``frames_iter`` up to the last kept frame. Writes ``crops.npy`` and ``atlas.npz``
    into ``work_dir`` (the metadata last, via a temporary name, so a crash leaves no half atlas
    that loads) and returns the opened atlas.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (468, 2) or len(landmarks) != len(valid):
        raise ValueError(f"expected landmarks (T, 468, 2) and valid (T,), got {landmarks.shape} and {valid.shape}")
    if not valid.any():
        raise InputError("no face found in the video: cannot build a mouth atlas")
    template = geometry.stable_template(landmarks, valid)
    run_id = continuity_runs(valid, cut_before)
    metrics = np.stack([geometry.mouth_opening(landmarks), geometry.mouth_width(landmarks)], axis=1).astype(np.float32)

    chooseable = run_id
    if regions is not None and regions.evicted:
        chooseable = np.where(np.isin(np.arange(len(run_id)), regions.frames()), run_id, -1)
    keep = choose_atlas_frames(metrics, chooseable, max_entries)
    kept_landmarks = landmarks[keep]
    to_canonical = geometry.face_to_canonical_batch(kept_landmarks, template)
    shapes = geometry.apply_affine(to_canonical, kept_landmarks[:, geometry.MOUTH_SHAPE_POINTS, :]).astype(np.float32)
    pose = geometry.head_pose_proxies(kept_landmarks, template).astype(np.float32)
    median_iod = float(np.median(geometry.inter_ocular_distance(landmarks[valid])))
    crop_geometry = _crop_geometry(shapes, median_iod, max_crop_side)
    width, height = crop_geometry.size
    basis = MouthShapeBasis.fit(shapes, metrics[keep])

    os.makedirs(work_dir, exist_ok=True)
    crops_tmp = os.path.join(work_dir, CROPS_FILE + ".partial.npy")
    crops = np.lib.format.open_memmap(crops_tmp, mode="w+", dtype=np.uint8, shape=(len(keep), height, width, 3))
    canonical_to_crop = crop_geometry.canonical_to_crop()
    filled = np.zeros(len(keep), dtype=bool)
    # Cubic keeps teeth and lip edges crisp at ~1:1; when the crop is capped smaller, linear aliases less.
    interpolation = cv2.INTER_CUBIC if crop_geometry.pixels_per_unit >= 0.9 * median_iod else cv2.INTER_LINEAR
    # pixels -> canonical -> crop, one resampling straight from the full-resolution pixels.
    pixel_to_crop = [_compose(canonical_to_crop, to_canonical[slot]) for slot in range(len(keep))]
    if regions is not None:
        for slot, frame_number in enumerate(keep):
            found = regions.region(int(frame_number), _source_box(pixel_to_crop[slot], width, height))
            if found is not None:
                pixels, x0, y0 = found
                crops[slot] = _warp(pixels, pixel_to_crop[slot], (x0, y0), (width, height), interpolation)
                filled[slot] = True
        log.info("atlas: %d of %d crops cut from the analysis pass's regions", int(filled.sum()), len(keep))
    missing = {int(frame): slot for slot, frame in enumerate(keep) if not filled[slot]}
    last_needed = max(missing) if missing else -1
    for frame_number, frame in enumerate(frames_iter if missing else ()):
        slot = missing.get(frame_number)
        if slot is not None:
            crops[slot] = _warp(frame, pixel_to_crop[slot], (0, 0), (width, height), interpolation)
            filled[slot] = True
        if frame_number >= last_needed:
            break
    crops.flush()
    del crops
    if not filled.all():
        log.warning("atlas: %d of %d chosen frames were not decoded; dropping them", int((~filled).sum()), len(keep))
        if not filled.any():
            raise InputError("could not decode the frames the face was found in")
        partial = np.load(crops_tmp, mmap_mode="r")
        compact_tmp = os.path.join(work_dir, CROPS_FILE + ".compact.npy")
        compact = np.lib.format.open_memmap(compact_tmp, mode="w+", dtype=np.uint8, shape=(int(filled.sum()), height, width, 3))
        compact[:] = partial[filled]
        compact.flush()
        del compact, partial
        os.replace(compact_tmp, crops_tmp)
        keep, shapes, pose = keep[filled], shapes[filled], pose[filled]
    os.replace(crops_tmp, os.path.join(work_dir, CROPS_FILE))
    meta_tmp = os.path.join(work_dir, META_FILE + ".partial.npz")
    np.savez(
        meta_tmp,
        source_index=keep.astype(np.int64),
        run_id=run_id[keep],
        metrics=metrics[keep],
        pose=pose,
        shapes=shapes,
        template=template,
        crop_box=crop_geometry.box,
        pixels_per_unit=np.float64(crop_geometry.pixels_per_unit),
        n_source_frames=np.int64(len(landmarks)),
        **basis.to_arrays(),
    )
    os.replace(meta_tmp, os.path.join(work_dir, META_FILE))
    log.info("mouth atlas: %d entries of %dx%d px from %d frames", len(keep), width, height, len(landmarks))
    return MouthAtlas(work_dir)


# Pixels beyond the mapped crop corners a resampling may read: cubic reads one before and two after.
_TAPS = 3


def _source_box(pixel_to_crop: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The source-pixel box ``(x0, y0, x1, y1)`` (end exclusive) a crop of ``width x height`` reads."""
    corners = np.array([[0.0, 0.0], [width, 0.0], [0.0, height], [width, height]])
    pixels = geometry.apply_affine(geometry.invert_affine_2x3(pixel_to_crop), corners)
    x0, y0 = np.floor(pixels.min(axis=0)).astype(int) - _TAPS
    x1, y1 = np.ceil(pixels.max(axis=0)).astype(int) + _TAPS + 1
    return int(x0), int(y0), int(x1), int(y1)


def _warp(pixels: np.ndarray, pixel_to_crop: np.ndarray, origin: tuple[int, int], size: tuple[int, int],
          interpolation: int) -> np.ndarray:
    """One crop from ``pixels`` whose top-left sits at ``origin`` in the full frame.

    The inverse map is computed as OpenCV computes it for a whole frame and only then moved by the
    region's origin, so a crop cut from a region matches the one cut from the whole frame.
    """
    to_source = cv2.invertAffineTransform(pixel_to_crop)
    to_source[:, 2] -= origin
    return cv2.warpAffine(pixels, to_source, size, flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine ``outer o inner``."""
    return outer[:, :2] @ inner[:, :] + np.array([[0.0, 0.0, outer[0, 2]], [0.0, 0.0, outer[1, 2]]])
