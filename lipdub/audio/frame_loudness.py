"""Speech loudness of a media file's audio track, one value per video frame."""
from __future__ import annotations

import numpy as np

from lipdub.audio.features import SAMPLE_RATE, frames_at, loudness
from lipdub.errors import InputError
from lipdub.media.audio_io import load_audio


def loudness_per_frame(path: str, n_frames: int, fps: float) -> np.ndarray:
    """RMS loudness (dB) of ``path``'s first audio stream averaged over each video frame.

    Raises ``InputError`` (from ``load_audio``) when the file has no usable audio.
    """
    return frames_at(loudness(load_audio(path, sample_rate=SAMPLE_RATE)), n_frames, fps)


def loudness_per_frame_or_none(path: str, n_frames: int, fps: float) -> np.ndarray | None:
    """``loudness_per_frame``, or None for a file without usable audio (a silent source: the
    speaker is then the largest face, and there is no own speech to check sync against)."""
    try:
        return loudness_per_frame(path, n_frames, fps)
    except InputError:
        return None
