"""Speech features -> the learned model's per-step inputs at its own fixed rate (25 Hz).

The model steps at ``MODEL_RATE`` whatever the video's frame rate, so one network serves 22.13,
25 and 30 fps sources alike; predictions are resampled onto video frames afterwards. Every
column is standardised per track (z-score over the whole track): recording gain, microphone
colour and speaker level differ far more between videos than between sounds, and a catalog's
few minutes of training speech cannot teach a network to ignore them.

Columns (``kind="logmel"``): 80 log-mel bands, loudness, voice activity, and the viseme rules'
relative opening and width (phonetic knowledge the network would otherwise have to learn from
scratch); ``kind="wav2vec2"`` appends the wav2vec2 embeddings the listen stage computed. ``phones=False``
(a checkpoint trained with ``lipdub train --no-phones``) leaves the recognised phones out: the
phone recognizer is English, dubs mostly are not, and the rules columns then carry only voice
activity and loudness.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from lipdub.audio.features import N_MELS, SpeechFeatures, frames_at
from lipdub.errors import InputError
from models.motion import standardize

__all__ = ["MODEL_RATE", "FEATURE_KINDS", "n_input_features", "model_steps", "model_inputs", "to_video_frames", "without_phones"]

MODEL_RATE = 25.0
FEATURE_KINDS = ("logmel", "wav2vec2")
_BASE_COLUMNS = N_MELS + 4  # mel + loudness + voice activity + rules opening/width


def n_input_features(kind: str, embedding_dim: int = 0) -> int:
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}: use one of {FEATURE_KINDS}")
    return _BASE_COLUMNS + (embedding_dim if kind == "wav2vec2" else 0)


def model_steps(duration_s: float) -> int:
    """Model steps covering ``duration_s`` seconds (step k spans [k, k+1) / MODEL_RATE)."""
    return max(int(np.floor(duration_s * MODEL_RATE)), 0)


def without_phones(speech: SpeechFeatures) -> SpeechFeatures:
    """The same speech with no recognised phones (what a phone-free model sees)."""
    return replace(speech, phones=[])


def model_inputs(speech: SpeechFeatures, n_steps: int, kind: str = "logmel", phones: bool = True) -> np.ndarray:
    """``(n_steps, n_input_features)`` float32 inputs for the generator."""
    from models.viseme_rules import VisemeRulesModel  # noqa: PLC0415  (avoid importing rules at module load)

    if not phones:
        speech = without_phones(speech)

    columns = [
        standardize(speech.mel),
        standardize(speech.loudness_db)[:, None],
        np.asarray(speech.speech_prob, dtype=np.float64)[:, None],
        VisemeRulesModel().relative_track(speech),
    ]
    if kind == "wav2vec2":
        if speech.embeddings is None:
            raise InputError("this motion checkpoint needs wav2vec2 embeddings: set listen.wav2vec2_checkpoint in the config")
        columns.append(standardize(speech.embeddings))
    elif kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}: use one of {FEATURE_KINDS}")
    n = min(len(column) for column in columns)
    stacked = np.concatenate([column[:n] for column in columns], axis=1)
    return frames_at(stacked, n_steps, MODEL_RATE).astype(np.float32)


def to_video_frames(per_step: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Model-rate values ``(n_steps, ...)`` -> ``(n_frames, ...)`` video frames at ``fps``.

    Linear interpolation between step centres ((k + 0.5) / MODEL_RATE) at frame centres; past
    either end the edge value holds.
    """
    values = np.asarray(per_step, dtype=np.float64)
    if n_frames <= 0 or len(values) == 0:
        return np.zeros((max(n_frames, 0), *values.shape[1:]), np.float32)
    flat = values.reshape(len(values), -1)
    position = (np.arange(n_frames) + 0.5) / fps * MODEL_RATE - 0.5
    steps = np.arange(len(flat))
    out = np.stack([np.interp(position, steps, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape(n_frames, *values.shape[1:]).astype(np.float32)
