"""Face tracks over a video (their smoothing is `lipdub.face.smoothing`).

Tracking works like MediaPipe's own video mode, for several faces and small faces:
- each tracked face's crop for frame t comes from its landmarks at t-1 (one mesh run per face,
  no detector), and the landmark model's presence score tells when the face is lost;
- the detector runs only on the first frame, at every shot cut, on the frame where a track got
  lost, and every ``detect_every`` frames to pick up faces that enter (with zoomed tiles for small
  faces at shot starts and every ``tiles_every`` frames);
- a detected face not already tracked starts a track, or continues an inactive one whose last
  face box was at about the same place and size (the same person after an occlusion, or after a
  jump cut with the same framing): so a track is a person as far as position can tell.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from lipdub.face import geometry
from lipdub.face.detect import FaceBox, FaceDetector, box_iou
from lipdub.face.mesh import FaceMesher

logger = logging.getLogger(__name__)


@dataclass
class FaceTrack:
    """One person's face over the frames where it was seen (raw, unsmoothed landmarks).

    ``frames`` are increasing frame indices; ``landmarks[i]`` ``(468, 2)`` pixels belong to
    ``frames[i]``. Frames in between (occlusion, another shot) simply are not listed.
    """

    track_id: int
    frames: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def boxes(self) -> np.ndarray:
        """``(n, 4)`` float32 ``[x0, y0, x1, y1]`` landmark bounding boxes per observed frame."""
        if len(self.frames) == 0:
            return np.zeros((0, 4), np.float32)
        return np.concatenate([self.landmarks.min(axis=1), self.landmarks.max(axis=1)], axis=1).astype(np.float32)

    def mouth_opening(self) -> np.ndarray:
        """``(n,)`` geometry.mouth_opening per observed frame."""
        return geometry.mouth_opening(self.landmarks).astype(np.float32)

    def dense(self, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks ``(n_frames, 468, 2)`` (zeros where unseen) and the ``valid`` mask."""
        landmarks = np.zeros((n_frames, self.landmarks.shape[1] if len(self.frames) else 468, 2), np.float32)
        valid = np.zeros(n_frames, bool)
        keep = self.frames < n_frames
        landmarks[self.frames[keep]] = self.landmarks[keep]
        valid[self.frames[keep]] = True
        return landmarks, valid

    def scaled(self, factor_x: float, factor_y: float) -> "FaceTrack":
        """The track with landmarks scaled per axis (analysis on a downscaled copy -> full size)."""
        scale = np.array([factor_x, factor_y], np.float32)
        return FaceTrack(self.track_id, self.frames, (self.landmarks * scale).astype(np.float32))


@dataclass
class _TrackBuilder:
    track_id: int
    frames: list[int] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)

    def add(self, frame_index: int, landmarks: np.ndarray) -> None:
        self.frames.append(frame_index)
        self.landmarks.append(landmarks.astype(np.float32))

    @property
    def last(self) -> np.ndarray:
        return self.landmarks[-1]

    def build(self) -> FaceTrack:
        landmarks = np.stack(self.landmarks) if self.landmarks else np.zeros((0, 468, 2), np.float32)
        return FaceTrack(self.track_id, np.asarray(self.frames, dtype=np.int64), landmarks)


def _box_size(box: FaceBox) -> float:
    return float(np.sqrt(max(box.area, 1e-9)))


def same_place(a: FaceBox, b: FaceBox, *, max_distance: float = 0.5, max_size_ratio: float = 1.6) -> bool:
    """Whether two face boxes are at about the same position and size (same person, same framing)."""
    size_a, size_b = _box_size(a), _box_size(b)
    if max(size_a, size_b) > max_size_ratio * min(size_a, size_b):
        return False
    (ax, ay), (bx, by) = a.centre, b.centre
    return float(np.hypot(ax - bx, ay - by)) <= max_distance * max(size_a, size_b)


class FaceTracker:
    """Feed frames in order with ``update``; ``tracks()`` returns the finished tracks.

    The detector and mesher are borrowed, not closed here. ``stats`` counts detector and mesh
    calls (what the speed depends on).
    """

    def __init__(self, detector: FaceDetector, mesher: FaceMesher, *, detect_every: int = 10,
                 tiles_every: int = 50, min_face_size: float = 16.0, duplicate_iou: float = 0.5) -> None:
        self.detector = detector
        self.mesher = mesher
        self.detect_every = max(1, detect_every)
        self.tiles_every = max(1, tiles_every)
        self.min_face_size = min_face_size
        self.duplicate_iou = duplicate_iou
        self.stats = {"frames": 0, "detect": 0, "detect_tiles": 0, "mesh": 0}
        self._frame_index = 0
        self._builders: dict[int, _TrackBuilder] = {}
        self._active: list[int] = []  # seen on the previous frame, oldest first
        self._inactive: dict[int, tuple[int, FaceBox]] = {}  # id -> (last frame, last box): may continue
        self._last_detect = -10**9
        self._last_tiles = -10**9
        self._next_id = 0

    def update(self, frame: np.ndarray, *, cut_before: bool = False) -> list[tuple[int, np.ndarray]]:
        """Track faces into ``frame``; returns ``(track_id, landmarks (468, 2))`` for each face in it."""
        t = self._frame_index
        self._frame_index += 1
        self.stats["frames"] += 1
        if cut_before:
            for track_id in self._active:
                self._deactivate(track_id)
            self._active = []
        observed: dict[int, np.ndarray] = {}
        lost = False
        for track_id in self._active:
            self.stats["mesh"] += 1
            landmarks = self.mesher.track(frame, self._builders[track_id].last)
            if landmarks is None or not self._usable(landmarks, frame):
                lost = True
                self._deactivate(track_id)
            else:
                observed[track_id] = landmarks
        observed = self._drop_duplicates(observed)
        first = t == 0 or cut_before
        if first or lost or t - self._last_detect >= self.detect_every:
            tiles = first or t - self._last_tiles >= self.tiles_every
            self._add_detections(frame, t, observed, tiles)
        for track_id, landmarks in observed.items():
            self._builders[track_id].add(t, landmarks)
        self._active = sorted(observed)
        return [(track_id, observed[track_id]) for track_id in self._active]

    def tracks(self) -> list[FaceTrack]:
        """All tracks so far, by id (the order faces were first found)."""
        return [self._builders[k].build() for k in sorted(self._builders) if self._builders[k].frames]

    def _usable(self, landmarks: np.ndarray, frame: np.ndarray) -> bool:
        box = FaceBox.from_landmarks(landmarks)
        height, width = frame.shape[:2]
        inside = box.x1 > 0 and box.y1 > 0 and box.x0 < width and box.y0 < height
        return inside and max(box.width, box.height) >= self.min_face_size

    def _deactivate(self, track_id: int) -> None:
        builder = self._builders[track_id]
        self._inactive[track_id] = (builder.frames[-1], FaceBox.from_landmarks(builder.last))

    def _drop_duplicates(self, observed: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Two tracks on one face (a crop slid onto a neighbour): keep the older track."""
        kept: dict[int, np.ndarray] = {}
        for track_id in sorted(observed):
            box = FaceBox.from_landmarks(observed[track_id]).as_array()
            if any(box_iou(box, FaceBox.from_landmarks(other).as_array())[0, 0] > self.duplicate_iou
                   for other in kept.values()):
                logger.debug("track %d merged into an older track on the same face", track_id)
                continue
            kept[track_id] = observed[track_id]
        return kept

    def _add_detections(self, frame: np.ndarray, t: int, observed: dict[int, np.ndarray], tiles: bool) -> None:
        self._last_detect = t
        self.stats["detect"] += 1
        if tiles:
            self._last_tiles = t
            self.stats["detect_tiles"] += 1
        tracked = [FaceBox.from_landmarks(lm) for lm in observed.values()]
        for box in self.detector.detect(frame, tiles=tiles):
            if any(_covers(known, box) for known in tracked):
                continue
            self.stats["mesh"] += 2
            landmarks = self.mesher.landmarks(frame, box)
            if landmarks is None or not self._usable(landmarks, frame):
                continue
            face = FaceBox.from_landmarks(landmarks)
            if any(box_iou(face.as_array(), known.as_array())[0, 0] > self.duplicate_iou for known in tracked):
                continue
            track_id = self._continued_track(face, exclude=observed)
            if track_id is None:
                track_id = self._next_id
                self._next_id += 1
                self._builders[track_id] = _TrackBuilder(track_id)
                logger.debug("frame %d: new face track %d at %s", t, track_id, face.as_array().round(1))
            observed[track_id] = landmarks
            tracked.append(face)

    def _continued_track(self, face: FaceBox, exclude: dict[int, np.ndarray]) -> int | None:
        """The most recently seen inactive track at the same place, if any; it becomes active."""
        candidates = [(last, track_id) for track_id, (last, box) in self._inactive.items()
                      if track_id not in exclude and same_place(face, box)]
        if not candidates:
            return None
        _, track_id = max(candidates)
        del self._inactive[track_id]
        return track_id


def _covers(known: FaceBox, detected: FaceBox) -> bool:
    """Whether a detection is a face already tracked (overlap, or its centre inside the face)."""
    if box_iou(known.as_array(), detected.as_array())[0, 0] > 0.3:
        return True
    return known.contains(*detected.centre)
