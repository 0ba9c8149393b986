"""Per-frame QA measurement, fed (output frame, source frame) pairs; mergeable across segments.

The render stage feeds it the frames it composites (each segment in parallel, no extra decode)
and the QA stage merges the segments' parts; `lipdub qa` feeds it frames decoded from files. Both
end in the same ``QAPart`` and the same figures (lipdub/qa/measure.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO

import cv2
import numpy as np

from lipdub.face import geometry
from lipdub.face.analysis_record import FaceAnalysis
from lipdub.face.mesh import FaceMesher, FaceRoi
from lipdub.qa.details import encode_jpeg
from lipdub.qa.meters import EDITED_LEVELS, FlickerMeter, OutsidePSNR, SeamMeter, grey, lower_face_difference
from lipdub.qa.regions import face_regions, mouth_box

THUMBNAILS = 3
MOUTH_SHEET_FRAMES = 8
THUMB_WIDTH = 360
MOUTH_CELL = 96
_SUMS = ("squared_error", "psnr_count", "seam_output", "seam_source", "flicker_output", "flicker_source", "compared")


def qa_part_uri(segment_uri: str) -> str:
    """Where the render stage keeps a segment's QA part: beside the segment."""
    stem = segment_uri.removesuffix(".mp4").removesuffix(".mov")
    return stem + ".qa.npz"


def spread(candidates: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` of ``candidates``, evenly spread, ends excluded."""
    if len(candidates) == 0:
        return []
    picks = np.linspace(0, len(candidates) - 1, num=min(count, len(candidates)) + 2)[1:-1].round().astype(int)
    return sorted(set(candidates[picks].tolist()))


def continuity(source_index: np.ndarray, cut_before: np.ndarray) -> np.ndarray:
    """True where output frame i follows frame i-1 smoothly (same or neighbouring source frame, no cut)."""
    steps = np.diff(source_index)
    later = np.maximum(source_index[1:], source_index[:-1])
    smooth = (np.abs(steps) <= 1) & ~((steps != 0) & cut_before[later])
    return np.concatenate([[False], smooth])


def picture_frames(source_index: np.ndarray, valid: np.ndarray, edited: np.ndarray | None) -> tuple[list[int], list[int]]:
    """Output frames for the before/after thumbnails and the mouth sheet: spread over the frames
    whose source frame is seen for the first time, with the speaker, edited where known."""
    seen_before = np.maximum.accumulate(np.concatenate([[-1], source_index[:-1]]))
    preferred = (source_index > seen_before) & valid[source_index]
    if edited is not None and (preferred & edited).any():
        preferred &= edited
    candidates = np.flatnonzero(preferred)
    return spread(candidates, THUMBNAILS), spread(candidates, MOUTH_SHEET_FRAMES)


def _resized(image: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _mouth_cell(frame: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    if box is None:
        return np.zeros((MOUTH_CELL, MOUTH_CELL, 3), np.uint8)
    x0, y0, x1, y1 = box
    return cv2.resize(frame[y0:y1, x0:x1], (MOUTH_CELL, MOUTH_CELL), interpolation=cv2.INTER_AREA)


@dataclass
class QAPart:
    """What frames ``[start, stop)`` of an output measured: per-frame series plus summed meters.

    ``opening`` / ``source_opening_measured``: the output's and the source's mouth opening
    measured the same way (NaN: not measured); ``compared``: frames that had their source frame to
    compare with; ``pixel_edit``: the lower face differs from the source's. ``sums``: the pixel
    meters' running sums. Pictures: JPEG thumbnails and RGB mouth cells keyed by output frame.
    """

    start: int
    stop: int
    opening: np.ndarray
    source_opening_measured: np.ndarray
    compared: np.ndarray
    pixel_edit: np.ndarray
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_SUMS, 0.0))
    thumbs: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    mouth_cells: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def to_npz(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        arrays: dict[str, np.ndarray] = {f"thumb_before_{i}": np.frombuffer(b, np.uint8) for i, (b, _) in self.thumbs.items()}
        arrays.update({f"thumb_after_{i}": np.frombuffer(a, np.uint8) for i, (_, a) in self.thumbs.items()})
        arrays.update({f"cell_source_{i}": s for i, (s, _) in self.mouth_cells.items()})
        arrays.update({f"cell_output_{i}": o for i, (_, o) in self.mouth_cells.items()})
        np.savez(path, start=np.int64(self.start), stop=np.int64(self.stop), opening=self.opening,
                 source_opening_measured=self.source_opening_measured, compared=self.compared, pixel_edit=self.pixel_edit,
                 sums=np.array([self.sums[key] for key in _SUMS], np.float64),
                 thumb_frames=np.array(sorted(self.thumbs), np.int64), cell_frames=np.array(sorted(self.mouth_cells), np.int64),
                 **arrays)

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str] | IO[bytes]) -> "QAPart":
        with np.load(path, allow_pickle=False) as data:
            return cls(
                start=int(data["start"]), stop=int(data["stop"]), opening=data["opening"],
                source_opening_measured=data["source_opening_measured"], compared=data["compared"],
                pixel_edit=data["pixel_edit"], sums=dict(zip(_SUMS, data["sums"].tolist())),
                thumbs={int(i): (data[f"thumb_before_{i}"].tobytes(), data[f"thumb_after_{i}"].tobytes()) for i in data["thumb_frames"]},
                mouth_cells={int(i): (data[f"cell_source_{i}"], data[f"cell_output_{i}"]) for i in data["cell_frames"]},
            )


def merge_parts(parts: list[QAPart]) -> QAPart:
    """One part from consecutive parts covering frames ``[first.start, last.stop)``."""
    if not parts:
        raise ValueError("no QA parts to merge")
    parts = sorted(parts, key=lambda part: part.start)
    for before, after in zip(parts, parts[1:]):
        if before.stop != after.start:
            raise ValueError(f"QA parts do not join: {before.start}-{before.stop} then {after.start}-{after.stop}")
    merged = QAPart(start=parts[0].start, stop=parts[-1].stop,
                    opening=np.concatenate([p.opening for p in parts]),
                    source_opening_measured=np.concatenate([p.source_opening_measured for p in parts]),
                    compared=np.concatenate([p.compared for p in parts]),
                    pixel_edit=np.concatenate([p.pixel_edit for p in parts]))
    for part in parts:
        for key in _SUMS:
            merged.sums[key] += part.sums[key]
        merged.thumbs.update(part.thumbs)
        merged.mouth_cells.update(part.mouth_cells)
    return merged


class FrameQA:
    """Measures output frames ``[start, stop)`` of a timeline one by one (``add`` in order)."""

    def __init__(self, faces: FaceAnalysis, source_index: np.ndarray, start: int, stop: int, *,
                 thumb_frames: list[int], sheet_frames: list[int], mesher: FaceMesher) -> None:
        self.faces = faces
        self.source_index = np.asarray(source_index, np.int64)
        self.continuous = continuity(self.source_index, faces.cut_before)
        self.start, self.stop = start, stop
        self.thumb_frames, self.sheet_frames = set(thumb_frames), set(sheet_frames)
        self.mesher = mesher
        n = stop - start
        self.part = QAPart(start=start, stop=stop, opening=np.full(n, np.nan), source_opening_measured=np.full(n, np.nan),
                           compared=np.zeros(n, bool), pixel_edit=np.zeros(n, bool))
        self._psnr, self._seam, self._flicker = OutsidePSNR(), SeamMeter(), FlickerMeter()
        self._previous = start - 1

    def _opening(self, frame: np.ndarray, landmarks: np.ndarray) -> float:
        found = self.mesher.landmarks_in_roi(frame, FaceRoi.from_landmarks(landmarks))
        return float(geometry.mouth_opening(found)) if found is not None else float("nan")

    def add(self, t: int, output: np.ndarray, source: np.ndarray | None) -> None:
        """Output frame ``t`` and the source frame it shows (None: not available to compare)."""
        if not self.start <= t < self.stop:
            raise ValueError(f"frame {t} outside {self.start}..{self.stop}")
        k = t - self.start
        s = int(self.source_index[t])
        landmarks = self.faces.landmarks[s] if self.faces.valid[s] else None
        follows = self._previous == t - 1 and bool(self.continuous[t])
        self._previous = t
        if landmarks is not None:
            self.part.opening[k] = self._opening(output, landmarks)
        if source is None:
            self._flicker.add(None, None, False)
            return
        self.part.sums["compared"] += 1
        self.part.compared[k] = True
        if landmarks is not None:
            # The analysis kept Face Mesh's own (unsmoothed) measurement of this source frame:
            # no second run here. Older analyses lack it: measure as before.
            raw = self.faces.raw_opening
            self.part.source_opening_measured[k] = float(raw[s]) if raw is not None else self._opening(source, landmarks)
        regions = face_regions(landmarks, output.shape[:2]) if landmarks is not None else None
        self._psnr.add(output, source, regions)
        if regions is not None:
            x0, y0, x1, y1 = regions.box
            out_box, src_box = grey(output[y0:y1, x0:x1]), grey(source[y0:y1, x0:x1])
            self._seam.add(out_box, src_box, regions)
            self.part.pixel_edit[k] = lower_face_difference(out_box, src_box, regions) > EDITED_LEVELS
        box = mouth_box(landmarks, output.shape[:2]) if landmarks is not None else None
        if box is None:
            self._flicker.add(None, None, False)
        else:
            self._flicker.add(FlickerMeter.crop(output, box), FlickerMeter.crop(source, box), follows)
        if t in self.thumb_frames:
            self.part.thumbs[t] = (encode_jpeg(_resized(source, THUMB_WIDTH)), encode_jpeg(_resized(output, THUMB_WIDTH)))
        if t in self.sheet_frames:
            self.part.mouth_cells[t] = (_mouth_cell(source, box), _mouth_cell(output, box))

    def finish(self) -> QAPart:
        sums = self.part.sums
        sums["squared_error"], sums["psnr_count"] = self._psnr.squared_error, float(self._psnr.count)
        sums["seam_output"], sums["seam_source"] = self._seam.output_energy, self._seam.source_energy
        sums["flicker_output"], sums["flicker_source"] = self._flicker.output_change, self._flicker.source_change
        return self.part
