"""Speech features at 100 Hz for the motion models: log-mel, loudness, voice activity, phones,
and optionally embeddings from a speech model (`lipdub.audio.wav2vec2_features`).

Every 100 Hz feature has T = 1 + len(samples) // HOP frames; frame k is centred at k / 100 s
(librosa's ``center=True`` framing), so all of them line up with each other and with time.
``frames_at`` resamples any of them onto video frame times.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Protocol

import numpy as np

from lipdub.audio.phonemes import PhoneSegment
from lipdub.errors import InputError

if TYPE_CHECKING:
    from lipdub.audio.phonemes import PhoneRecognizer
    from lipdub.audio.vad import VoiceActivity

log = logging.getLogger(__name__)

__all__ = [
    "SAMPLE_RATE", "N_MELS", "N_FFT", "HOP", "FEATURE_RATE", "SILENCE_DB",
    "log_mel", "loudness", "frames_at", "SpeechFeatures", "SpeechEmbedder", "analyze_speech",
]

SAMPLE_RATE = 16000
N_MELS = 80
N_FFT = 1024
HOP = 160
FEATURE_RATE = SAMPLE_RATE / HOP  # 100 Hz
RMS_WINDOW = 400  # 25 ms: short enough to follow syllables
SILENCE_DB = -100.0  # loudness floor (digital silence)


def _check_samples(samples: np.ndarray) -> np.ndarray:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise InputError(f"expected mono audio samples, got shape {audio.shape}")
    return np.nan_to_num(audio)


def n_feature_frames(n_samples: int) -> int:
    """Frame count of every 100 Hz feature for ``n_samples`` of audio."""
    return 1 + n_samples // HOP


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(T, 80) float32 natural-log mel power (80 bins, n_fft 1024, hop 160, 0-8 kHz)."""
    import librosa  # noqa: PLC0415  (slow import, only where features are computed)

    audio = _check_samples(samples)
    if len(audio) == 0:
        return np.full((1, N_MELS), np.log(1e-10), np.float32)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, center=True, power=2.0
    )
    return np.log(np.maximum(mel, 1e-10)).T.astype(np.float32)


def loudness(samples: np.ndarray) -> np.ndarray:
    """(T,) float32 RMS level in dB re full scale over 25 ms windows, floored at -100 dB."""
    audio = _check_samples(samples)
    n_frames = n_feature_frames(len(audio))
    if len(audio) == 0:
        return np.full(n_frames, SILENCE_DB, np.float32)
    half = RMS_WINDOW // 2
    padded = np.pad(audio.astype(np.float64), (half, half))
    energy = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(n_frames) * HOP
    mean_square = (energy[starts + RMS_WINDOW] - energy[starts]) / RMS_WINDOW
    db = 10.0 * np.log10(np.maximum(mean_square, 10 ** (SILENCE_DB / 10)))
    return db.astype(np.float32)


def frames_at(feature: np.ndarray, n_frames: int, fps: float, rate: float = FEATURE_RATE) -> np.ndarray:
    """Resample a ``rate`` Hz feature (T, ...) onto ``n_frames`` video frames at ``fps``.

    Video frame i is shown during [i / fps, (i + 1) / fps); it gets the average of the feature
    over that interval (the feature held piecewise constant around its sample times): a box
    average when video frames are longer than feature frames, the local value when they are
    shorter, and no sample is lost or counted twice. Times past the end repeat the last value.
    """
    values = np.asarray(feature, dtype=np.float64)
    if n_frames <= 0:
        return np.zeros((0, *values.shape[1:]), np.float32)
    if len(values) == 0:
        raise ValueError("cannot resample an empty feature")
    if fps <= 0 or rate <= 0:
        raise ValueError(f"fps and rate must be positive, got fps={fps}, rate={rate}")
    flat = values.reshape(len(values), -1)
    # Integral of the piecewise-constant signal at sample boundaries (k - 0.5) / rate.
    integral = np.concatenate([np.zeros((1, flat.shape[1])), np.cumsum(flat, axis=0)], axis=0) / rate
    bounds = (np.arange(len(flat) + 1) - 0.5) / rate
    edges = np.arange(n_frames + 1) / fps
    inside = np.clip(edges, bounds[0], bounds[-1])
    cum = np.stack([np.interp(inside, bounds, integral[:, j]) for j in range(flat.shape[1])], axis=1)
    # Past either end, extend with the edge value.
    cum += np.minimum(edges - bounds[0], 0.0)[:, None] * flat[0]
    cum += np.maximum(edges - bounds[-1], 0.0)[:, None] * flat[-1]
    out = np.diff(cum, axis=0) * fps
    return out.reshape(n_frames, *values.shape[1:]).astype(np.float32)


class SpeechEmbedder(Protocol):
    """Anything that turns 16 kHz mono samples into (1 + len // HOP, D) 100 Hz embeddings."""

    def embed(self, samples: np.ndarray) -> np.ndarray: ...


@dataclass
class SpeechFeatures:
    """Everything the motion models need from one speech track, aligned at 100 Hz.

    ``mel`` (T, 80) log-mel, ``loudness_db`` (T,), ``speech_prob`` (T,) voice activity,
    ``phones`` speech phones (silence is the gaps), ``duration_s`` the audio length,
    ``embeddings`` (T, D) speech-model embeddings when an embedder was used, else None.
    """

    mel: np.ndarray
    loudness_db: np.ndarray
    speech_prob: np.ndarray
    phones: list[PhoneSegment] = field(default_factory=list)
    duration_s: float = 0.0
    embeddings: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(len(self.loudness_db))

    def to_npz(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        """Save as a compressed .npz (no pickles), e.g. to cache the listen stage's output."""
        target = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
        # Stored only when present: files without embeddings stay as they were.
        optional = {} if self.embeddings is None else {"embeddings": self.embeddings.astype(np.float32)}
        np.savez_compressed(
            target,
            **optional,
            mel=self.mel.astype(np.float32),
            loudness_db=self.loudness_db.astype(np.float32),
            speech_prob=self.speech_prob.astype(np.float32),
            phone_labels=np.array([p.phone for p in self.phones], dtype="U8"),
            phone_starts=np.array([p.start_s for p in self.phones], dtype=np.float64),
            phone_ends=np.array([p.end_s for p in self.phones], dtype=np.float64),
            duration_s=np.float64(self.duration_s),
        )

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str] | IO[bytes]) -> "SpeechFeatures":
        source = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
        with np.load(source, allow_pickle=False) as data:
            phones = [
                PhoneSegment(str(label), float(start), float(end))
                for label, start, end in zip(data["phone_labels"], data["phone_starts"], data["phone_ends"])
            ]
            return cls(
                mel=data["mel"],
                loudness_db=data["loudness_db"],
                speech_prob=data["speech_prob"],
                phones=phones,
                duration_s=float(data["duration_s"]),
                embeddings=data["embeddings"] if "embeddings" in data.files else None,
            )


def analyze_speech(
    samples: np.ndarray,
    vad: "VoiceActivity",
    recognizer: "PhoneRecognizer",
    transcript: str | None = None,
    embedder: SpeechEmbedder | None = None,
) -> SpeechFeatures:
    """All speech features of a 16 kHz mono track; embeddings too when an embedder is given.

    With a transcript, phones come from forced alignment; if that fails (unknown words, audio
    that does not match) the failure is logged and allphone recognition is used instead, because
    a wrong transcript should cost precision, not the whole dub.
    """
    audio = _check_samples(samples)
    if len(audio) == 0:
        raise InputError("the speech track is empty")
    mel = log_mel(audio)
    level = loudness(audio)
    prob = vad.speech_probability(audio)
    phones: list[PhoneSegment] | None = None
    if transcript:
        try:
            phones = recognizer.align(audio, transcript)
        except InputError as exc:
            log.warning("transcript alignment failed, recognising phones instead: %s", exc)
    if phones is None:
        phones = recognizer.recognize(audio)
    embeddings = None if embedder is None else np.asarray(embedder.embed(audio), dtype=np.float32)
    lengths = [len(mel), len(level), len(prob)] + ([] if embeddings is None else [len(embeddings)])
    n = min(lengths)
    return SpeechFeatures(
        mel=mel[:n], loudness_db=level[:n], speech_prob=prob[:n], phones=phones,
        duration_s=len(audio) / SAMPLE_RATE,
        embeddings=None if embeddings is None else embeddings[:n],
    )
