"""The tracks `mux_segments` writes beside the video: encoded audio, copied streams, chapters.

Each track is fed as the video advances (``feed_until``), so a film-length dub or source is
never in memory whole and the muxer can interleave; ``finish`` ends it at the video's end (or,
for a dub delivered whole, at its own end: the output then lasts as long as the dub to the sample).
"""
from __future__ import annotations

import itertools
import logging
import os
from fractions import Fraction
from typing import Iterator, Protocol

import av
import numpy as np

log = logging.getLogger(__name__)

__all__ = ["CopiedStream", "EncodedAudio", "Track", "as_float_chunks", "copy_chapters", "resample_chunks"]

_AUDIO_CHUNK = 8192
#: Largest frame handed to the resampler for rates the codec cannot carry.
_RESAMPLE_BLOCK = 65536


class Track(Protocol):
    def add_stream(self, out: av.container.OutputContainer) -> None: ...
    def feed_until(self, seconds: float) -> None: ...
    def finish(self, video_s: float) -> None: ...
    def close(self) -> None: ...


def _set_disposition(stream: av.stream.Stream, default: bool) -> None:
    stream.disposition = av.stream.Disposition.default if default else av.stream.Disposition(0)


class EncodedAudio:
    """Float (n, channels) chunks encoded as `codec` (AAC; PCM or FLAC for lossless delivery).

    Chunks are pulled only once the video has got past the buffered audio, so what is held is the
    unencoded rest of one chunk; chunks past the video's end are never pulled (``to_end=False``).
    ``to_end=True``: the track ends where the chunks end (the whole dub), not at the video's end.
    """

    def __init__(self, chunks: Iterator[np.ndarray], rate: int, layout: str = "mono", *, codec: str = "aac",
                 bitrate: int = 128000, sample_format: str | None = None, metadata: dict[str, str] | None = None,
                 default: bool = True, to_end: bool = False) -> None:
        self._chunks = chunks
        self._rate = rate
        self._layout = layout
        self._channels = av.AudioLayout(layout).nb_channels
        self._codec = codec
        self._bitrate = bitrate
        self._sample_format = sample_format
        self._metadata = dict(metadata or {})
        self._default = default
        self._to_end = to_end
        self._out: av.container.OutputContainer | None = None
        self._stream: av.audio.stream.AudioStream | None = None
        self._buffer = np.zeros((0, self._channels), np.float32)  # pulled, not yet encoded (starts at _written)
        self._written = 0  # samples sent to the encoder

    @property
    def samples_written(self) -> int:
        return self._written

    def add_stream(self, out: av.container.OutputContainer) -> None:
        stream = out.add_stream(self._codec, rate=self._rate, layout=self._layout)
        if self._codec == "aac":
            stream.bit_rate = self._bitrate
        if self._sample_format:
            stream.format = self._sample_format
        stream.metadata.update(self._metadata)
        stream.time_base = Fraction(1, self._rate)
        _set_disposition(stream, self._default)
        self._out, self._stream = out, stream

    def feed_until(self, seconds: float) -> None:
        """Encode real (not padding) audio up to `seconds`; never past the audio's end."""
        self._encode_audio(int(seconds * self._rate))

    def finish(self, video_s: float) -> None:
        """Encode the rest: up to the video's duration (silence if short, cut if long), or with
        ``to_end`` every remaining sample; flush."""
        if self._to_end:
            self._encode_audio(None)
        else:
            target = int(round(video_s * self._rate))
            self._encode_audio(target)
            while self._written < target:
                self._encode(np.zeros((min(_AUDIO_CHUNK, target - self._written), self._channels), np.float32))
        self._buffer = np.zeros((0, self._channels), np.float32)
        assert self._out is not None and self._stream is not None
        self._out.mux(self._stream.encode(None))

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:  # a generator reading a file: release it now
            close()

    def _encode_audio(self, stop: int | None) -> None:
        """Encode source samples up to sample `stop` (None: all), or as far as the source goes."""
        while stop is None or self._written < stop:
            if not len(self._buffer):
                chunk = next(self._chunks, None)
                if chunk is None:
                    return
                self._buffer = chunk
                continue
            n = min(len(self._buffer), _AUDIO_CHUNK) if stop is None else min(stop - self._written, len(self._buffer), _AUDIO_CHUNK)
            self._encode(self._buffer[:n])
            self._buffer = self._buffer[n:]

    def _encode(self, samples: np.ndarray) -> None:
        assert self._out is not None and self._stream is not None
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples).reshape(1, -1), format="flt", layout=self._layout)
        frame.sample_rate = self._rate
        frame.pts = self._written
        frame.time_base = Fraction(1, self._rate)
        self._written += len(samples)
        self._out.mux(self._stream.encode(frame))


class CopiedStream:
    """A stream of another file copied packet by packet (no re-encode): a dub whose codec fits the
    container, the source's own audio, a subtitle track.

    ``cut=True`` ends it with the video (packets starting at or past the video's end are dropped;
    a packet spanning the end is kept whole); ``cut=False`` copies every packet. A stream that
    starts late in its file is moved to start at 0 (the output's time 0 is the dub's first sample).
    """

    def __init__(self, path: str | os.PathLike[str], stream_index: int, *, metadata: dict[str, str] | None = None,
                 default: bool = True, cut: bool = False) -> None:
        self.path = os.fspath(path)
        self._index = stream_index
        self._metadata = dict(metadata or {})
        self._default = default
        self._cut = cut
        self._input: av.container.InputContainer | None = None
        self._out: av.container.OutputContainer | None = None
        self._stream: av.stream.Stream | None = None
        self._packets: Iterator[av.Packet] = iter(())
        self._held: av.Packet | None = None
        self._shift = 0
        self._time_base = Fraction(1, 1)

    def add_stream(self, out: av.container.OutputContainer) -> None:
        self._input = av.open(self.path)
        source = self._input.streams[self._index]
        stream = out.add_stream_from_template(source)
        stream.metadata.update(self._metadata)
        _set_disposition(stream, self._default)
        self._time_base = source.time_base
        # Priming (AAC's negative start) stays: decoders skip it. A late start is moved to 0.
        self._shift = max(0, int(source.start_time or 0))
        self._packets = (p for p in self._input.demux(source) if p.size and p.pts is not None)
        self._out, self._stream = out, stream

    def feed_until(self, seconds: float) -> None:
        self._copy(seconds)

    def finish(self, video_s: float) -> None:
        self._copy(video_s if self._cut else None)

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None

    def _copy(self, until_s: float | None) -> None:
        assert self._out is not None and self._stream is not None
        while True:
            packet = self._held if self._held is not None else next(self._packets, None)
            self._held = None
            if packet is None:
                return
            start = float((packet.pts - self._shift) * self._time_base)
            if until_s is not None and start >= until_s:
                self._held = packet
                return
            packet.pts -= self._shift
            if packet.dts is not None:
                packet.dts -= self._shift
            packet.stream = self._stream
            self._out.mux(packet)


def copy_chapters(source_path: str | os.PathLike[str], out: av.container.OutputContainer, until_s: float) -> int:
    """The source's chapters that start before `until_s` (ends clamped to it); how many."""
    with av.open(os.fspath(source_path)) as source:
        chapters = []
        for chapter in source.chapters():
            base = chapter["time_base"]
            if float(chapter["start"] * base) >= until_s:
                continue
            end = min(chapter["end"], int(until_s / base))
            chapters.append({**chapter, "id": len(chapters) + 1, "end": end})
    if chapters:
        out.set_chapters(chapters)
    return len(chapters)


def as_float_chunks(source: np.ndarray | Iterator[np.ndarray], channels: int) -> Iterator[np.ndarray]:
    """Float32 (n, channels) chunks from the whole-track array or a chunk iterator.

    The array, or the iterator's first chunk, is taken and checked now, before the output is
    opened; later chunks are converted as they are pulled.
    """
    def convert(chunk: np.ndarray) -> np.ndarray:
        return _as_float(chunk, channels)

    if isinstance(source, np.ndarray):
        return iter([convert(source)])
    first = next(source, None)
    head = [] if first is None else [convert(first)]
    return itertools.chain(head, map(convert, source))


def _as_float(audio: np.ndarray, channels: int) -> np.ndarray:
    """Validate (a chunk of) the dub audio as contiguous float32 (n, channels) in [-1, 1]; for a
    mono track, (n,) or (n, k) input is averaged to one channel."""
    data = np.nan_to_num(np.asarray(audio, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    if channels == 1:
        if data.ndim == 2 and data.shape[1] <= 8:  # (n, channels): average to mono
            data = data.mean(axis=1)
        if data.ndim != 1:
            raise ValueError(f"audio must be mono (n,) or (n, channels), got shape {np.shape(audio)}")
        data = data[:, None]
    elif data.ndim != 2 or data.shape[1] != channels:
        raise ValueError(f"audio must be (n, {channels}) for a {channels}-channel track, got shape {np.shape(audio)}")
    return np.ascontiguousarray(np.clip(data, -1.0, 1.0))


def resample_chunks(chunks: Iterator[np.ndarray], src_rate: int, dst_rate: int, layout: str = "mono") -> Iterator[np.ndarray]:
    """Resample float (n, channels) with libswresample (for rates AAC cannot carry), chunk by chunk."""
    resampler = av.AudioResampler(format="flt", layout=layout, rate=dst_rate)
    channels = av.AudioLayout(layout).nb_channels

    def rows(frame: av.AudioFrame) -> np.ndarray:
        return frame.to_ndarray().reshape(-1, channels)

    for samples in chunks:
        for start in range(0, len(samples), _RESAMPLE_BLOCK):
            block = np.ascontiguousarray(samples[start:start + _RESAMPLE_BLOCK]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout=layout)
            frame.sample_rate = src_rate
            yield from (rows(f) for f in resampler.resample(frame))
    yield from (rows(f) for f in resampler.resample(None))
