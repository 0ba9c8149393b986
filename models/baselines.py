"""Reference motion models for evaluation: the naive loudness model and the oracle.

Neither is meant for production: the loudness model is the bar the real model must clear in the
hold-out protocol, and the oracle (the real mouth shapes) isolates the renderer's own error.
"""
from __future__ import annotations

import numpy as np

from lipdub.audio.features import SpeechFeatures, frames_at


class LoudnessMotionModel:
    """Opening and width as linear functions of the loudness, fitted on the source's own audio."""

    def __init__(self) -> None:
        self.coefficients = np.array([[0.0, 0.0], [0.05, 0.4]])  # [slope; intercept] per output

    def fit_speaker(self, source: SpeechFeatures, measured: np.ndarray, fps: float, landmarks: np.ndarray | None = None) -> None:
        loud = frames_at(source.loudness_db, len(measured), fps)
        ok = np.isfinite(measured).all(axis=1) & np.isfinite(loud)
        if ok.sum() < 5:
            return
        design = np.stack([loud[ok], np.ones(ok.sum())], axis=1)
        self.coefficients, *_ = np.linalg.lstsq(design, measured[ok], rcond=None)

    def predict(self, dub: SpeechFeatures, n_frames: int, fps: float) -> np.ndarray:
        loud = frames_at(dub.loudness_db, n_frames, fps)
        design = np.stack([loud, np.ones(n_frames)], axis=1)
        return (design @ self.coefficients).astype(np.float32)


class OracleMotionModel:
    """Plays back known mouth targets (the real shapes of a held-out half)."""

    def __init__(self, targets: np.ndarray) -> None:
        self.targets = np.asarray(targets, dtype=np.float32)

    def fit_speaker(self, source: SpeechFeatures, measured: np.ndarray, fps: float, landmarks: np.ndarray | None = None) -> None:
        return None

    def predict(self, dub: SpeechFeatures, n_frames: int, fps: float) -> np.ndarray:
        index = np.minimum(np.arange(n_frames), len(self.targets) - 1)
        out = self.targets[index].copy()
        # Frames where the real face was not measured: hold the nearest measured value.
        for column in range(out.shape[1]):
            values = out[:, column]
            bad = ~np.isfinite(values)
            if bad.all():
                values[:] = 0.0
            elif bad.any():
                values[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), values[~bad])
        return out
