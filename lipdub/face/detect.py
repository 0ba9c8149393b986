"""Face detection with MediaPipe's short- and full-range detectors, multi-scale.

Why two models and tiles: the short-range model (128 px input) only sees faces that fill a good part
of the frame, the full-range model (192 px input) sees smaller ones, and neither sees a face of a
few dozen pixels in a wide 16:9 frame because the whole frame is squeezed into the model's input.
Running the full-range model on overlapping square tiles zooms into the frame so faces down to
about 20 px (in a 1280 px frame) are found. Tiles cost several model runs, so callers that detect
often (the tracker) ask for them only at shot starts and now and then.

Detection runs on a downscaled copy (longer side <= ``detect_side``): the models resize their
input to 128/192 px anyway, so full resolution only costs conversion time. Boxes are returned in
the pixels of the frame that was passed in.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import cv2
import mediapipe as mp
import numpy as np

logger = logging.getLogger(__name__)

# Order of MediaPipe's face detection keypoints (subject's right eye is on the image left).
KEYPOINT_NAMES: tuple[str, ...] = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned face box in pixels, with the detector's score.

    ``keypoints`` (6, 2) in pixels, in ``KEYPOINT_NAMES`` order, when the detector gave them: the
    eye keypoints let the mesher rotate its crop so a tilted face is upright for the model.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def width(self) -> float:
        return max(self.x1 - self.x0, 0.0)

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 0.0)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    def contains(self, x: float, y: float) -> bool:
        """Whether the pixel point lies inside the box (edges included)."""
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1

    def as_array(self) -> np.ndarray:
        """``[x0, y0, x1, y1]`` float32."""
        return np.array([self.x0, self.y0, self.x1, self.y1], dtype=np.float32)

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0) -> "FaceBox":
        """The box (and keypoints) scaled about the origin by ``factor``, then shifted by (dx, dy)."""
        kps = None if self.keypoints is None else self.keypoints * factor + np.array([dx, dy], np.float32)
        return FaceBox(self.x0 * factor + dx, self.y0 * factor + dy, self.x1 * factor + dx,
                       self.y1 * factor + dy, self.score, kps)

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, score: float = 1.0) -> "FaceBox":
        """Tight box around Face Mesh landmarks ``(468, 2)``."""
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        return cls(float(x0), float(y0), float(x1), float(y1), score)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``(N, 4)`` and ``(M, 4)`` as ``[x0, y0, x1, y1]`` -> ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def _intersection_over_smaller(a: FaceBox, b: FaceBox) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    return ix * iy / max(min(a.area, b.area), 1e-9)


def merge_detections(boxes: list[FaceBox], iou_threshold: float = 0.3,
                     containment_threshold: float = 0.7) -> list[FaceBox]:
    """Non-maximum suppression across models and tiles: one box per face, best score first.

    A box mostly inside a better one (a tile that saw part of a big face) is dropped too.
    """
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: b.score, reverse=True):
        duplicate = any(
            box_iou(box.as_array(), k.as_array())[0, 0] > iou_threshold
            or _intersection_over_smaller(box, k) > containment_threshold
            for k in kept
        )
        if not duplicate:
            kept.append(box)
    return kept


def tile_windows(width: int, height: int, fraction: float, overlap: float) -> list[tuple[int, int, int]]:
    """Overlapping square tiles ``(x0, y0, side)`` covering a ``width`` x ``height`` image.

    The side is ``fraction`` of the shorter image side; neighbouring tiles overlap by ``overlap`` of
    a side so a face cut by one tile's border is whole in the next.
    """
    side = max(int(round(fraction * min(width, height))), 16)
    stride = max(int(side * (1.0 - overlap)), 1)

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        count = math.ceil((length - side) / stride) + 1
        return [int(round(i * (length - side) / (count - 1))) for i in range(count)]

    return [(x, y, side) for y in starts(height) for x in starts(width)]


class FaceDetector:
    """MediaPipe short- and full-range face detectors over the frame and over zoomed tiles.

    ``detect(frame)`` returns every face found, largest-score first, as ``FaceBox`` in the frame's
    pixels. ``tiles=False`` skips the tile pass (two model runs instead of about ten).
    """

    def __init__(self, *, min_score: float = 0.5, detect_side: int = 640, tiles: bool = True,
                 tile_fraction: float = 0.6, tile_overlap: float = 0.25) -> None:
        self.min_score = min_score
        self.detect_side = detect_side
        self.tiles = tiles
        self.tile_fraction = tile_fraction
        self.tile_overlap = tile_overlap
        solutions = mp.solutions.face_detection
        self._short_range = solutions.FaceDetection(model_selection=0, min_detection_confidence=min_score)
        self._full_range = solutions.FaceDetection(model_selection=1, min_detection_confidence=min_score)

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        self._short_range.close()
        self._full_range.close()

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, frame: np.ndarray, *, tiles: bool | None = None) -> list[FaceBox]:
        """Faces in an RGB uint8 frame, in its pixels, best score first."""
        height, width = frame.shape[:2]
        scale = min(1.0, self.detect_side / max(height, width))
        small = frame if scale >= 1.0 else cv2.resize(
            frame, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        found = self._run(self._short_range, small) + self._run(self._full_range, small)
        use_tiles = self.tiles if tiles is None else tiles
        if use_tiles:
            sh, sw = small.shape[:2]
            windows = tile_windows(sw, sh, self.tile_fraction, self.tile_overlap)
            if len(windows) > 1:
                for x0, y0, side in windows:
                    crop = np.ascontiguousarray(small[y0:y0 + side, x0:x0 + side])
                    found += [b.scaled(1.0, x0, y0) for b in self._run(self._full_range, crop)]
        merged = merge_detections(found)
        inv = 1.0 / scale
        return [b.scaled(inv) for b in merged]

    def _run(self, model: object, image: np.ndarray) -> list[FaceBox]:
        """One model on one image -> boxes in that image's pixels."""
        result = model.process(image)  # type: ignore[attr-defined]
        height, width = image.shape[:2]
        boxes: list[FaceBox] = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            keypoints = np.array([[kp.x * width, kp.y * height] for kp in detection.location_data.relative_keypoints],
                                 dtype=np.float32)
            x0, y0 = rel.xmin * width, rel.ymin * height
            boxes.append(FaceBox(float(x0), float(y0), float(x0 + rel.width * width), float(y0 + rel.height * height),
                                 float(detection.score[0]), keypoints if len(keypoints) == 6 else None))
        return boxes
