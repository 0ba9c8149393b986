"""The result of face analysis: the speaker's landmarks through a video, and its npz form.

Kept apart from ``analysis.py`` so stages that only read an analysis (move, render, QA) do not
import MediaPipe and SciPy: worker start-up time is on every item's critical path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

import numpy as np

from lipdub.face import geometry
from lipdub.npz_memmap import memmap_npz_member

NPZ_VERSION = 1


@dataclass
class FaceAnalysis:
    """The speaker's face through the video, in upright full-resolution pixels.

    ``landmarks`` (T, 468, 2) float32, smoothed; zeros where ``valid`` is False (speaker not seen).
    ``cut_before`` (T,) True where a frame starts a new shot (never frame 0).
    ``n_tracks`` face tracks found; ``speaker_track`` the id of the speaker's among them.
    ``n_faces`` (T,) faces seen per frame; ``boxes`` (T, 4) the speaker's face box
    ``[x0, y0, x1, y1]`` from its landmarks (zeros where invalid). Both default from the others.
    ``raw_opening`` (T,) the mouth opening as Face Mesh measured it, before smoothing (NaN where
    invalid): what QA compares the output's own measurement with, so it needs no second Face
    Mesh run on the source; None for analyses made before it was kept.
    """

    landmarks: np.ndarray
    valid: np.ndarray
    cut_before: np.ndarray
    n_tracks: int
    speaker_track: int
    width: int
    height: int
    fps: float
    n_faces: np.ndarray | None = None
    boxes: np.ndarray | None = None
    raw_opening: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool)
        self.cut_before = np.asarray(self.cut_before, dtype=bool)
        self.fps = float(self.fps)
        if self.n_faces is None:
            self.n_faces = self.valid.astype(np.int16)
        self.n_faces = np.asarray(self.n_faces, dtype=np.int16)
        if self.boxes is None:
            self.boxes = landmark_boxes(self.landmarks, self.valid)
        self.boxes = np.asarray(self.boxes, dtype=np.float32)
        if self.raw_opening is not None:
            self.raw_opening = np.asarray(self.raw_opening, dtype=np.float32)

    @property
    def n_frames(self) -> int:
        return len(self.valid)

    def mouth_measurements(self, missing: float = 0.0) -> np.ndarray:
        """``(T, 2)`` float32 [opening, width] (geometry units) per frame; ``missing`` where invalid."""
        out = np.full((self.n_frames, 2), missing, np.float32)
        if self.valid.any():
            face = self.landmarks[self.valid]
            out[self.valid, 0] = geometry.mouth_opening(face)
            out[self.valid, 1] = geometry.mouth_width(face)
        return out

    def to_npz(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        """Save to a path or a binary file object (e.g. ``storage.open_uri(uri, "wb")``).

        Uncompressed on purpose: landmarks barely compress (float32 noise), and stored members can
        be memory-mapped, so a render segment reads its own frames, not the whole film's.
        """
        np.savez(
            path, version=np.int32(NPZ_VERSION), landmarks=self.landmarks, valid=self.valid,
            cut_before=self.cut_before, n_tracks=np.int32(self.n_tracks), speaker_track=np.int32(self.speaker_track),
            width=np.int32(self.width), height=np.int32(self.height), fps=np.float64(self.fps),
            n_faces=self.n_faces, boxes=self.boxes,
            **({} if self.raw_opening is None else {"raw_opening": self.raw_opening}))

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str] | IO[bytes]) -> "FaceAnalysis":
        """Load what ``to_npz`` wrote. From a local file the landmarks are memory-mapped (read-only;
        pages load as frames are used); files from older, compressed analyses load whole."""
        landmarks = None if hasattr(path, "read") else memmap_npz_member(path, "landmarks")
        with np.load(path, allow_pickle=False) as data:
            if landmarks is None:
                landmarks = data["landmarks"]
            return cls(landmarks=landmarks, valid=data["valid"], cut_before=data["cut_before"],
                       n_tracks=int(data["n_tracks"]), speaker_track=int(data["speaker_track"]),
                       width=int(data["width"]), height=int(data["height"]), fps=float(data["fps"]),
                       n_faces=data["n_faces"], boxes=data["boxes"],
                       raw_opening=data["raw_opening"] if "raw_opening" in data.files else None)


def landmark_boxes(landmarks: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(T, 4)`` landmark bounding boxes, zeros where invalid."""
    boxes = np.zeros((len(valid), 4), np.float32)
    if np.any(valid):
        face = landmarks[valid]
        boxes[valid] = np.concatenate([face.min(axis=1), face.max(axis=1)], axis=1)
    return boxes


