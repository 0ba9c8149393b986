"""Self-supervised training pairs: a video's own speech in, the lips measured on its frames out.

Every source video that talks is an example: the listen stage's speech features of its own audio
track and the analyze stage's Face Mesh landmarks of the speaker. Both are brought to the model's
25 Hz steps; lips go to the face-aligned frame and become displacements from the speaker's
reference shape (the identity input). Steps whose frame had no speaker are masked out of the
loss, never guessed. Windows of a fixed length (with overlap) are the rows Ray Data feeds to
training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from lipdub.audio.features import SpeechFeatures
from lipdub.face.analysis_record import FaceAnalysis
from models.lip_shapes import canonical_lips, reference_lips
from models.motion_inputs import MODEL_RATE, model_inputs, model_steps

__all__ = ["TrainingClip", "training_clip", "clip_windows", "WINDOW_STEPS"]

WINDOW_STEPS = 64  # 2.56 s: several syllables and a pause, short enough for many windows per clip
MIN_VALID_SHARE = 0.5  # a window mostly without the speaker teaches nothing


@dataclass
class TrainingClip:
    name: str
    features: np.ndarray  # (T, F) model inputs
    motion: np.ndarray  # (T, N_LIPS, 2) lips minus reference (zeros where invalid)
    valid: np.ndarray  # (T,) speaker measured at this step
    reference: np.ndarray  # (N_LIPS, 2)

    @property
    def n_steps(self) -> int:
        return len(self.valid)


def training_clip(name: str, faces: FaceAnalysis, speech: SpeechFeatures, kind: str = "logmel",
                  offset_s: float = 0.0, phones: bool = True) -> TrainingClip:
    """Align one video's lips with its own speech at the model rate. ValueError if no speaker.

    ``offset_s``: the video's measured own offset (``models.training_sync``; positive: the mouth
    lags the sound): the lips for the sound at time t are read at t + offset_s. Steps whose
    shifted frame falls outside the video are masked out.
    """
    duration = min(faces.n_frames / faces.fps, speech.duration_s)
    n_steps = model_steps(duration)
    # The video frame on screen at each step's centre (plus the video's own offset).
    position = np.floor(((np.arange(n_steps) + 0.5) / MODEL_RATE + offset_s) * faces.fps).astype(int)
    inside = (position >= 0) & (position < faces.n_frames)
    frame = np.clip(position, 0, max(faces.n_frames - 1, 0))
    valid = faces.valid[frame] & inside
    lips = canonical_lips(faces.landmarks[frame]) if n_steps else np.zeros((0, 40, 2), np.float32)
    reference = reference_lips(lips, valid)
    motion = np.where(valid[:, None, None], lips - reference, 0.0).astype(np.float32)
    return TrainingClip(name, model_inputs(speech, n_steps, kind, phones), motion, valid, reference)


def clip_windows(clip: TrainingClip, length: int = WINDOW_STEPS, stride: int = 16) -> Iterator[dict[str, np.ndarray | str]]:
    """Rows of ``length`` steps every ``stride`` steps (the last one flush with the clip's end)."""
    if clip.n_steps < length:
        return
    starts = list(range(0, clip.n_steps - length + 1, stride))
    if starts[-1] != clip.n_steps - length:
        starts.append(clip.n_steps - length)
    for start in starts:
        part = slice(start, start + length)
        if clip.valid[part].mean() < MIN_VALID_SHARE:
            continue
        yield {
            "clip": clip.name,
            "features": clip.features[part],
            "motion": clip.motion[part],
            "valid": clip.valid[part].astype(np.float32),
            "reference": clip.reference,
        }
