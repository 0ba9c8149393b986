"""What the QA stage keeps per item for people to look at: time series, thumbnails, a mouth sheet.

Written next to the item's other artifacts in the work store (``qa.npz``, its URI in the row's
``qa_uri``) and read by ``lipdub report``. One npz, no pickles: images are JPEG bytes stored as
uint8 arrays.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO

import cv2
import numpy as np

DETAILS_VERSION = 1


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """RGB uint8 image -> JPEG bytes."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> RGB uint8 image."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass
class QADetails:
    """Per output frame series and pictures of one item.

    ``opening``: the output's measured mouth opening (geometry units: lip gap / inter-ocular
    distance), NaN where it could not be measured; ``source_opening``: the source's opening at the
    source frame each output frame shows (NaN where the speaker was not seen); ``dub_loudness``:
    the dub's loudness in dB per output frame; ``edited``: frames the renderer changed.
    ``thumb_frames``: output frame index of each before/after pair; ``thumbs_before`` /
    ``thumbs_after``: JPEGs of the source frame shown there and of the output frame.
    ``mouth_sheet``: JPEG of mouth crops over time, top row source, bottom row output, at
    ``mouth_sheet_frames`` (output frame indices); None when the speaker was never seen.
    """

    fps: float
    opening: np.ndarray
    source_opening: np.ndarray
    dub_loudness: np.ndarray
    edited: np.ndarray
    thumb_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    thumbs_before: list[bytes] = field(default_factory=list)
    thumbs_after: list[bytes] = field(default_factory=list)
    mouth_sheet: bytes | None = None
    mouth_sheet_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        self.fps = float(self.fps)
        self.opening = np.asarray(self.opening, np.float32)
        self.source_opening = np.asarray(self.source_opening, np.float32)
        self.dub_loudness = np.asarray(self.dub_loudness, np.float32)
        self.edited = np.asarray(self.edited, bool)
        self.thumb_frames = np.asarray(self.thumb_frames, np.int64)
        self.mouth_sheet_frames = np.asarray(self.mouth_sheet_frames, np.int64)
        if len(self.thumbs_before) != len(self.thumb_frames) or len(self.thumbs_after) != len(self.thumb_frames):
            raise ValueError("one before and one after thumbnail per thumbnail frame")

    @property
    def n_frames(self) -> int:
        return int(len(self.opening))

    def to_npz(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        images = {f"before_{k}": np.frombuffer(b, np.uint8) for k, b in enumerate(self.thumbs_before)}
        images.update({f"after_{k}": np.frombuffer(b, np.uint8) for k, b in enumerate(self.thumbs_after)})
        if self.mouth_sheet is not None:
            images["mouth_sheet"] = np.frombuffer(self.mouth_sheet, np.uint8)
        np.savez_compressed(path, version=np.int32(DETAILS_VERSION), fps=np.float64(self.fps), opening=self.opening,
                            source_opening=self.source_opening, dub_loudness=self.dub_loudness, edited=self.edited,
                            thumb_frames=self.thumb_frames, mouth_sheet_frames=self.mouth_sheet_frames, **images)

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str] | IO[bytes]) -> "QADetails":
        with np.load(path, allow_pickle=False) as data:
            count = len(data["thumb_frames"])
            return cls(fps=float(data["fps"]), opening=data["opening"], source_opening=data["source_opening"],
                       dub_loudness=data["dub_loudness"], edited=data["edited"], thumb_frames=data["thumb_frames"],
                       thumbs_before=[data[f"before_{k}"].tobytes() for k in range(count)],
                       thumbs_after=[data[f"after_{k}"].tobytes() for k in range(count)],
                       mouth_sheet=data["mouth_sheet"].tobytes() if "mouth_sheet" in data.files else None,
                       mouth_sheet_frames=data["mouth_sheet_frames"])
