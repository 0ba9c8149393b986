"""Audio in (any container/codec -> float32 mono at a fixed rate) and WAV out.

Why: every audio model in lipdub (VAD, phone recognizer, mel features) expects float32 mono
16 kHz in [-1, 1]; dub tracks and source soundtracks arrive as wav/mp3/aac/flac, stereo or
5.1/7.1, 8-48 kHz. Decoding and resampling happen in one place with PyAV (libswresample).

Two ways to read: `load_audio` returns the whole track as one array (models want that);
`iter_audio_chunks` yields the same samples a few seconds at a time, so a caller that only
passes them on (the final mux of a 2-hour film: ~1.4 GB of float32 at 48 kHz) stays bounded.
`load_audio` is built on `iter_audio_chunks`, so both give bit-identical samples.

Channels are averaged *after* resampling (not downmixed by swresample): swresample's float
downmix of identical stereo channels would add them at +3 dB and can exceed [-1, 1]; the plain
mean is what the speech models were trained on (librosa's `to_mono`). The final mux keeps the
dub's channels instead (``keep_channels=True``: (n, channels) chunks in the stream's own layout,
see `lipdub.media.probe.probe_audio`): a delivered 5.1 mix must stay 5.1.
"""
from __future__ import annotations

import logging
import os
import wave
from typing import Iterator

import av
import numpy as np

from lipdub.errors import InputError
from lipdub.media._av import AV_ERRORS, describe, open_input

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CHUNK_SECONDS", "iter_audio_chunks", "load_audio", "write_wav"]

#: Longest tail trimmed to the stated duration: one 2048-sample codec frame at 11 kHz.
_MAX_PADDING_S = 0.2
#: Length of the chunks `iter_audio_chunks` yields unless told otherwise (~1 MB at 48 kHz).
DEFAULT_CHUNK_SECONDS = 5.0


def load_audio(path: str | os.PathLike[str], sample_rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream of `path` to float32 mono at `sample_rate`, in [-1, 1].

    Raises `InputError` if the file is unreadable, has no audio stream, fails to decode, or
    decodes to no samples.
    """
    chunks = list(iter_audio_chunks(path, sample_rate))
    samples = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    log.debug("loaded %s: %.2f s at %d Hz", os.fspath(path), samples.size / sample_rate, sample_rate)
    return samples


def iter_audio_chunks(
    path: str | os.PathLike[str], sample_rate: int = 16000, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    *, keep_channels: bool = False,
) -> Iterator[np.ndarray]:
    """Decode the first audio stream of `path` like `load_audio`, yielding it in chunks.

    Each chunk is float32 mono at `sample_rate` in [-1, 1], `round(chunk_seconds * sample_rate)`
    samples long except the last; concatenated they equal `load_audio(path, sample_rate)`.
    Memory stays at about one chunk whatever the file's length. ``keep_channels``: chunks are
    (n, channels) in the stream's own channel order instead of their mean.

    Argument errors raise `ValueError` at once; the file is opened on the first `next()`, so its
    `InputError`s (unreadable, no audio stream, undecodable, no samples) come while iterating.
    Closing the iterator early closes the file.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    chunk_size = int(round(chunk_seconds * sample_rate))
    if chunk_size <= 0:
        raise ValueError(f"chunk_seconds must give at least one sample, got {chunk_seconds}")
    return _decode_chunks(os.fspath(path), sample_rate, chunk_size, keep_channels)


def _decode_chunks(path: str, sample_rate: int, chunk_size: int, keep_channels: bool = False) -> Iterator[np.ndarray]:
    with open_input(path) as container:
        if not container.streams.audio:
            raise InputError(f"{path}: has no audio stream")
        stream = container.streams.audio[0]
        stated_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        trim = _PaddingTrim(stated_s, sample_rate)
        rechunk = _Rechunker(chunk_size)
        decoded = 0
        for samples in _decode(path, container, stream, sample_rate, keep_channels):
            decoded += len(samples)
            for kept in trim.push(samples):
                yield from rechunk.push(kept)
        if decoded == 0:
            raise InputError(f"{path}: audio stream is empty")
        trim.finish()
        yield from rechunk.finish()


def _decode(path: str, container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
            sample_rate: int, keep_channels: bool = False) -> Iterator[np.ndarray]:
    """The stream's samples, resampled to float32 at `sample_rate` and clipped, as decoded: mono
    (n,), or (n, channels) with ``keep_channels``."""
    convert = _to_channels if keep_channels else _to_mono
    # Packed float, not planar: PyAV 18 mis-counts the planes of planar frames with 8+
    # channels (reads past AVFrame.data and segfaults in to_ndarray).
    resampler = av.AudioResampler(format="flt", rate=sample_rate)
    try:
        for frame in container.decode(stream):
            frame.pts = None  # resample by sample count; odd/missing pts must not shift audio
            for out in resampler.resample(frame):
                yield convert(out)
        for out in resampler.resample(None):
            yield convert(out)
    except AV_ERRORS as exc:
        raise InputError(f"{path}: audio cannot be decoded ({describe(exc)})") from exc


class _PaddingTrim:
    """Drops the zero padding of the last AAC/MP3 frame that FFmpeg decodes past the end.

    The container's stated duration is exact for these codecs; only a small excess (at most
    `_MAX_PADDING_S`) is trimmed so a wrong header can never cut real audio. Streaming form:
    samples past the stated end are held back until it is clear which case it is, so at most
    `_MAX_PADDING_S` of audio (plus one codec frame) waits here.
    """

    def __init__(self, stated_s: float, sample_rate: int) -> None:
        # Samples still to pass before the stated end; None: no (usable) stated end, pass all.
        self._room: int | None = int(round(stated_s * sample_rate)) if stated_s > 0 else None
        self._max_excess = _MAX_PADDING_S * sample_rate
        self._held: list[np.ndarray] = []
        self._held_n = 0

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        """The samples that are certainly audio, in order (possibly none yet)."""
        if self._room is None:
            return [samples]
        head, tail = samples[: self._room], samples[self._room:]
        self._room -= len(head)
        kept = [head] if len(head) else []
        if len(tail):
            self._held.append(tail)
            self._held_n += len(tail)
            if self._held_n > self._max_excess:  # too long for codec padding: the header is wrong
                kept.extend(self._held)
                self._held, self._held_n, self._room = [], 0, None
        return kept

    def finish(self) -> None:
        """End of stream: what is still held is padding."""
        if self._held_n:
            log.debug("trimmed %d samples of encoder padding", self._held_n)
        self._held, self._held_n = [], 0


class _Rechunker:
    """Regroups the small pieces a decoder yields into chunks of a fixed size."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._pending: list[np.ndarray] = []
        self._pending_n = 0

    def push(self, samples: np.ndarray) -> Iterator[np.ndarray]:
        self._pending.append(samples)
        self._pending_n += len(samples)
        while self._pending_n >= self._size:
            joined = np.concatenate(self._pending)
            self._pending = [joined[self._size:]]
            self._pending_n = len(joined) - self._size
            yield joined[: self._size]

    def finish(self) -> Iterator[np.ndarray]:
        if self._pending_n:
            yield np.concatenate(self._pending)
        self._pending, self._pending_n = [], 0


def _to_mono(frame: av.AudioFrame) -> np.ndarray:
    """Packed float frame -> (n,) float32 in [-1, 1], the mean over its channels."""
    channels = frame.layout.nb_channels
    packed = frame.to_ndarray().reshape(-1, channels)
    mono = packed[:, 0].copy() if channels == 1 else packed.mean(axis=1, dtype=np.float32)
    return np.clip(mono, -1.0, 1.0, out=mono)


def _to_channels(frame: av.AudioFrame) -> np.ndarray:
    """Packed float frame -> (n, channels) float32 in [-1, 1], channels in the frame's order."""
    packed = frame.to_ndarray().reshape(-1, frame.layout.nb_channels).astype(np.float32, copy=True)
    return np.clip(packed, -1.0, 1.0, out=packed)


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
