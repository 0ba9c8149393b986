"""Full-resolution lower-face regions kept from the analysis decode, so the atlas needs no second one.

The mouth atlas can only choose its frames once the whole video is analysed (the speaker, the
face template and the crop box come from every frame), yet its crops must be cut from the full-
resolution pictures. Instead of decoding the source again, the analysis pass hands each full frame
to a `RegionSpool`, which writes the pixels around every tracked face's lower face to one append-only
file on local disk. The atlas then cuts its crops from those regions.

Disk stays flat in video length: past ``max_regions`` regions (or ``max_bytes``), the spool keeps
the half that the atlas's own frame choice (`choose_atlas_frames`: short chunks, rare mouth shapes
first, the rest spread over time) would keep, and drops the rest. A video under the cap loses
nothing, so its atlas is the one a second decode gives; a longer one then chooses among the kept
frames only (``evicted`` says which case it is).
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import numpy as np

from lipdub.face import geometry
from lipdub.render.atlas import choose_atlas_frames

log = logging.getLogger(__name__)

SPOOL_FILE = "regions.bin"
# The stored area in eye-aligned face units (outer eye corners at (+-0.5, 0), inter-ocular distance
# 1): wider and taller than any atlas crop box (jaw +- 0.15, from 0.3 under the eyes to the chin
# + 0.3), so the crop of a frame the atlas picks lies inside its region; a frame where it does not
# (a very turned head) is decoded again instead.
REGION_BOX = (-1.35, 0.15, 1.35, 2.4)


@dataclass
class _Region:
    frame: int
    track: int
    x0: int
    y0: int
    width: int
    height: int
    offset: int
    metrics: tuple[float, float]  # [opening, width] of the face, for the eviction's choice


def region_box(landmarks: np.ndarray, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Pixel box ``(x0, y0, x1, y1)`` (end exclusive) to keep around one face, clipped to the frame."""
    to_canonical = geometry.eye_aligned_similarity(np.asarray(landmarks, np.float64))
    x0, y0, x1, y1 = REGION_BOX
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]])
    pixels = geometry.apply_affine(geometry.invert_affine_2x3(to_canonical), corners)
    width, height = frame_size
    left, top = np.floor(pixels.min(axis=0)).astype(int)
    right, bottom = np.ceil(pixels.max(axis=0)).astype(int) + 1
    left, top = max(int(left), 0), max(int(top), 0)
    right, bottom = min(int(right), width), min(int(bottom), height)
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


class RegionSpool:
    """Append-only store of lower-face regions, keyed by frame; see the module docstring.

    Use ``add`` as the analysis's observer, then ``region`` while building the atlas, then
    ``close`` (removes the file).
    """

    def __init__(self, directory: str, *, max_regions: int = 3000, max_bytes: int = 2_000_000_000) -> None:
        if max_regions < 2 or max_bytes < 1:
            raise ValueError(f"max_regions must be >= 2 and max_bytes >= 1, got {max_regions} and {max_bytes}")
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, SPOOL_FILE)
        self.max_regions = max_regions
        self.max_bytes = max_bytes
        self.evicted = False
        self._regions: list[_Region] = []
        self._file = open(self.path, "w+b")
        self._end = 0
        self._alive_bytes = 0
        self._by_frame: dict[int, list[_Region]] | None = None
        self._frame_size: tuple[int, int] | None = None

    def add(self, frame_index: int, frame: np.ndarray, faces: list[tuple[int, np.ndarray]]) -> None:
        """Keep the region around each face ``(track id, landmarks (468, 2) in this frame's pixels)``."""
        size = (frame.shape[1], frame.shape[0])
        self._frame_size = size
        for track, landmarks in faces:
            box = region_box(landmarks, size)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            pixels = np.ascontiguousarray(frame[y0:y1, x0:x1])
            self._file.seek(self._end)
            self._file.write(pixels.tobytes())
            metrics = (float(geometry.mouth_opening(landmarks)), float(geometry.mouth_width(landmarks)))
            self._regions.append(_Region(frame_index, track, x0, y0, x1 - x0, y1 - y0, self._end, metrics))
            self._end += pixels.nbytes
            self._alive_bytes += pixels.nbytes
        if len(self._regions) > self.max_regions or self._alive_bytes > self.max_bytes:
            self._evict_half()

    def frames(self) -> np.ndarray:
        """Frame numbers with at least one kept region, ascending."""
        return np.unique(np.array([r.frame for r in self._regions], dtype=np.int64))

    def region(self, frame_index: int, needed: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int] | None:
        """A kept region of ``frame_index`` covering the pixel box ``needed`` (clipped to the frame),
        as ``(pixels (h, w, 3), x0, y0)``, or None when no kept region covers it."""
        if self._by_frame is None:
            self._file.flush()
            self._by_frame = {}
            for kept in self._regions:
                self._by_frame.setdefault(kept.frame, []).append(kept)
        # Clipped to the frame: where the crop reaches past the frame's edge, a region that reaches
        # that edge replicates the same pixels there as the whole frame would.
        width, height = self._frame_size or (0, 0)
        nx0, ny0 = max(needed[0], 0), max(needed[1], 0)
        nx1, ny1 = min(needed[2], width), min(needed[3], height)
        for kept in self._by_frame.get(frame_index, []):
            if kept.x0 <= nx0 and kept.y0 <= ny0 and nx1 <= kept.x0 + kept.width and ny1 <= kept.y0 + kept.height:
                self._file.seek(kept.offset)
                data = self._file.read(kept.width * kept.height * 3)
                return np.frombuffer(data, np.uint8).reshape(kept.height, kept.width, 3), kept.x0, kept.y0
        return None

    def close(self) -> None:
        """Close and delete the spool file."""
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def __enter__(self) -> "RegionSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _evict_half(self) -> None:
        """Keep the half of the regions the atlas's own choice would keep; rewrite the file."""
        order = sorted(range(len(self._regions)), key=lambda i: (self._regions[i].track, self._regions[i].frame))
        regions = [self._regions[i] for i in order]
        frames = np.array([r.frame for r in regions])
        tracks = np.array([r.track for r in regions])
        starts = np.ones(len(regions), dtype=bool)
        starts[1:] = (tracks[1:] != tracks[:-1]) | (frames[1:] != frames[:-1] + 1)
        run_id = np.cumsum(starts) - 1
        metrics = np.array([r.metrics for r in regions], dtype=np.float32)
        budget = min(self.max_regions, len(regions)) // 2
        if self._alive_bytes > self.max_bytes:  # large faces: half the byte cap's worth of regions
            budget = min(budget, int(len(regions) * self.max_bytes / (2.0 * self._alive_bytes)))
        kept_positions = choose_atlas_frames(metrics, run_id, max(1, budget))
        kept = sorted((regions[i] for i in kept_positions), key=lambda r: (r.frame, r.track))
        self._rewrite(kept)
        log.info("region spool: kept %d of %d regions (%.0f MB)", len(kept), len(regions), self._alive_bytes / 1e6)
        self.evicted = True

    def _rewrite(self, kept: list[_Region]) -> None:
        new_path = self.path + ".compact"
        with open(new_path, "wb") as out:
            offset = 0
            for region in kept:
                self._file.seek(region.offset)
                data = self._file.read(region.width * region.height * 3)
                out.write(data)
                region.offset = offset
                offset += len(data)
        self._file.close()
        os.replace(new_path, self.path)
        self._file = open(self.path, "r+b")
        self._end = offset
        self._alive_bytes = offset
        self._regions = kept
        self._by_frame = None
