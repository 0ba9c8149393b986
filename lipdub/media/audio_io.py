"""Audio in (any container/codec -> float32 mono at a fixed rate) and WAV out.

Why: every audio model in lipdub (VAD, phone recognizer, mel features) expects float32 mono
16 kHz in [-1, 1]; dub tracks and source soundtracks arrive as wav/mp3/aac/flac, stereo or
5.1/7.1, 8-48 kHz. Decoding and resampling happen in one place with PyAV (libswresample).

Channels are averaged *after* resampling (not downmixed by swresample): swresample's float
downmix of identical stereo channels would add them at +3 dB and can exceed [-1, 1]; the plain
mean is what the speech models were trained on (librosa's `to_mono`).
"""
from __future__ import annotations

import logging
import os
import wave

import av
import numpy as np

from lipdub.errors import InputError
from lipdub.media._av import AV_ERRORS, describe, open_input

log = logging.getLogger(__name__)

__all__ = ["load_audio", "write_wav"]

#: Longest tail trimmed to the stated duration: one 2048-sample codec frame at 11 kHz.
_MAX_PADDING_S = 0.2


def load_audio(path: str | os.PathLike[str], sample_rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream of `path` to float32 mono at `sample_rate`, in [-1, 1].

    Raises `InputError` if the file is unreadable, has no audio stream, fails to decode, or
    decodes to no samples.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    p = os.fspath(path)
    with open_input(p) as container:
        if not container.streams.audio:
            raise InputError(f"{p}: has no audio stream")
        stream = container.streams.audio[0]
        stated_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        # Packed float, not planar: PyAV 18 mis-counts the planes of planar frames with 8+
        # channels (reads past AVFrame.data and segfaults in to_ndarray).
        resampler = av.AudioResampler(format="flt", rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frame.pts = None  # resample by sample count; odd/missing pts must not shift audio
                chunks.extend(_to_mono(out) for out in resampler.resample(frame))
            chunks.extend(_to_mono(out) for out in resampler.resample(None))
        except AV_ERRORS as exc:
            raise InputError(f"{p}: audio cannot be decoded ({describe(exc)})") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise InputError(f"{p}: audio stream is empty")
    samples = _trim_encoder_padding(samples, stated_s, sample_rate)
    np.clip(samples, -1.0, 1.0, out=samples)
    log.debug("loaded %s: %.2f s at %d Hz", p, samples.size / sample_rate, sample_rate)
    return samples


def _trim_encoder_padding(samples: np.ndarray, stated_s: float, sample_rate: int) -> np.ndarray:
    """Drop the zero padding of the last AAC/MP3 frame that FFmpeg decodes past the end.

    The container's stated duration is exact for these codecs; only a small excess (at most
    `_MAX_PADDING_S`) is trimmed so a wrong header can never cut real audio.
    """
    if stated_s <= 0:
        return samples
    target = int(round(stated_s * sample_rate))
    excess = samples.size - target
    if 0 < excess <= _MAX_PADDING_S * sample_rate:
        return samples[:target]
    return samples


def _to_mono(frame: av.AudioFrame) -> np.ndarray:
    """Packed float frame -> (n,) float32, the mean over its channels."""
    channels = frame.layout.nb_channels
    packed = frame.to_ndarray().reshape(-1, channels)
    if channels == 1:
        return packed[:, 0].copy()
    return packed.mean(axis=1, dtype=np.float32)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV (readable everywhere). `samples`: float in [-1, 1] (clipped),
    shape (n,) mono or (n, channels); integer int16 input is written as is."""
    data = np.asarray(samples)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise ValueError(f"samples must be (n,) or (n, channels), got shape {data.shape}")
    if data.dtype == np.int16:
        pcm = data
    elif np.issubdtype(data.dtype, np.floating):
        pcm = np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype(np.int16)
    else:
        raise ValueError(f"samples must be float or int16, got {data.dtype}")
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(np.ascontiguousarray(pcm).astype("<i2", copy=False).tobytes())
