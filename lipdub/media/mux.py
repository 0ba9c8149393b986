"""Join rendered video segments and the dub audio into the final file, without re-encoding.

Why remux: rendering runs in parallel per segment (each a `VideoWriter` file); decoding and
re-encoding them again would cost as much as the render and lose quality. Packets are copied
with timestamps shifted so the segments play back to back, and the dub audio is encoded once
as AAC in its own channel layout (mono, stereo, 5.1, 7.1: a delivered mix is never folded down),
with its language and title tags, padded with silence or trimmed so it ends exactly with the video. The audio may come as
one array or as chunks (`iter_audio_chunks`); chunks are pulled only as the video advances, so a
film-length dub is never in memory whole, and what lies past the video's end is never read.

Requirements on the segments: same codec, size and encoder settings (as `VideoWriter` with the
same arguments produces), video only. The display rotation of the first segment is kept.
Audio and video packets are interleaved while writing so memory stays bounded for long videos.
"""
from __future__ import annotations

import functools
import itertools
import logging
import os
from fractions import Fraction
from typing import Iterable, Iterator

import av
import numpy as np

from lipdub.errors import InputError
from lipdub.media._av import AV_ERRORS, describe, open_input

log = logging.getLogger(__name__)

__all__ = ["mux_segments", "aac_accepts", "delivered_audio", "AAC_RATES", "FALLBACK_RATE"]

#: Sample rates the AAC encoder accepts; others are resampled to 48 kHz.
AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000,
                        11025, 8000, 7350})
#: The output rate for dubs at a rate AAC cannot carry.
FALLBACK_RATE = 48000
#: What an untagged dub with this many channels is taken as (FFmpeg's default layouts).
_STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}
_AUDIO_CHUNK = 8192
#: Largest frame handed to the resampler for rates AAC cannot carry.
_RESAMPLE_BLOCK = 65536


@functools.lru_cache(maxsize=None)
def aac_accepts(layout: str) -> bool:
    """Whether FFmpeg's AAC encoder takes this channel layout (asked of the encoder itself, so the
    answer follows the FFmpeg that PyAV ships)."""
    try:
        context = av.CodecContext.create("aac", "w")
        context.layout, context.sample_rate, context.format, context.bit_rate = layout, 48000, "fltp", 128000
        context.open()
        return True
    except (ValueError, TypeError, av.error.FFmpegError):
        return False


def delivered_audio(layout: str, channels: int, sample_rate: int, uri: str) -> tuple[str, int]:
    """The output track's (layout, rate) for a dub: its own, never folded down; a rate AAC has no
    (192 kHz, 5 kHz) becomes 48 kHz. A layout without an AAC channel configuration (untagged
    channels, 22.2) is refused with a message naming it: nothing is silently downmixed."""
    if not aac_accepts(layout):
        standard = _STANDARD_LAYOUTS.get(channels)
        if layout != f"{channels} channels" or standard is None:
            raise InputError(f"{uri}: the dub's channel layout {layout!r} ({channels} channels) has no AAC channel "
                             "configuration; deliver it as mono, stereo, 5.1 or 7.1")
        # Untagged (a plain PCM WAV): FFmpeg's default order for that count, said in the log.
        log.warning("%s: untagged %d-channel dub taken as %s", uri, channels, standard)
        layout = standard
    return layout, sample_rate if sample_rate in AAC_RATES else FALLBACK_RATE


def mux_segments(
    segment_paths: list[str],
    audio: np.ndarray | Iterable[np.ndarray],
    sample_rate: int,
    out_path: str,
    *,
    audio_bitrate: int = 128000,
    metadata: dict[str, str] | None = None,
    audio_layout: str = "mono",
    audio_metadata: dict[str, str] | None = None,
) -> None:
    """Concatenate H.264 `segment_paths` (remux) and add `audio` (float, [-1, 1]) as AAC.

    ``audio``: the whole track as one array, or any other iterable of arrays (chunks, e.g.
    `iter_audio_chunks`), all at `sample_rate`. With ``audio_layout="mono"`` each is (n,) or
    (n, channels), averaged to mono; with another layout (FFmpeg's name: "stereo", "5.1(side)")
    each is (n, channels) in that layout's channel order and the track keeps it. Chunks are
    pulled only as the video advances; the iterator is closed when done (a generator's file with
    it). The first chunk is taken before the output is opened, so a missing or unreadable dub
    fails without touching `out_path`.
    ``metadata``: container tags to write (e.g. ``{"comment": ...}``; mp4 keeps the standard ones).
    ``audio_metadata``: the audio track's tags (``language``: ISO 639-2, ``title``).

    The output lasts exactly as long as the video; its frame count is the sum of the segments'.
    Raises `InputError` for unreadable segments and `ValueError` for incompatible ones.
    """
    if not segment_paths:
        raise ValueError("mux_segments needs at least one segment")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    out_path = os.fspath(out_path)
    layout = av.AudioLayout(audio_layout)
    source = audio if isinstance(audio, np.ndarray) else iter(audio)
    try:
        chunks = _audio_chunks(source, layout.nb_channels)
        out_rate = sample_rate if sample_rate in AAC_RATES else 48000
        if out_rate != sample_rate:
            log.info("dub audio at %d Hz resampled to %d Hz (AAC has no %d Hz)", sample_rate, out_rate, sample_rate)
            chunks = _resample(chunks, sample_rate, out_rate, layout.name)
        try:
            _mux(segment_paths, chunks, out_rate, out_path, audio_bitrate, metadata or {}, layout.name, audio_metadata or {})
        except BaseException:
            # A half-written container is useless and could be mistaken for a result.
            try:
                os.remove(out_path)
            except FileNotFoundError:
                pass
            raise
    finally:
        close = getattr(source, "close", None)
        if close is not None:  # a generator reading a file: release it now, not at garbage collection
            close()


def _mux(segment_paths: list[str], chunks: Iterator[np.ndarray], out_rate: int, out_path: str,
         audio_bitrate: int, metadata: dict[str, str], layout: str = "mono",
         audio_metadata: dict[str, str] | None = None) -> None:
    """The remux itself; `chunks` are float32 (n, channels) at `out_rate`, an AAC rate."""
    out_opts = {"movflags": "+faststart"} if out_path.lower().endswith((".mp4", ".mov", ".m4v")) else {}
    with av.open(out_path, mode="w", options=out_opts) as out:
        out.metadata.update(metadata)
        audio_out = _AudioFeed(out, chunks, out_rate, audio_bitrate, layout, audio_metadata or {})
        video_out = None
        time_base: Fraction | None = None
        template: tuple | None = None
        offset = 0  # in time_base ticks: where the current segment starts
        last_dts: int | None = None
        n_packets = 0
        for path in map(os.fspath, segment_paths):
            with open_input(path) as seg:
                if not seg.streams.video:
                    raise InputError(f"{path}: segment has no video stream")
                vin = seg.streams.video[0]
                params = (vin.codec_context.name, vin.codec_context.width, vin.codec_context.height)
                if video_out is None:
                    # Template copies codec parameters and side data, rotation matrix included.
                    video_out = out.add_stream_from_template(vin)
                    time_base = vin.time_base
                    template = params
                    audio_out.add_stream()  # video first: stream 0 is video as in the sources
                elif params != template:
                    raise ValueError(f"{path}: segment {params} differs from first segment "
                                     f"{template}; cannot concatenate without re-encoding")
                assert time_base is not None
                seg_start: int | None = None
                seg_end = 0
                try:
                    for packet in seg.demux(vin):
                        if packet.size == 0 or packet.pts is None:
                            continue
                        pts, dts, dur = _rebase(packet, vin.time_base, time_base)
                        if seg_start is None:
                            # First packet in decode order is the key frame that is shown first
                            # (x264 closed GOP); with B-frames its dts is < pts and stays so.
                            seg_start = pts
                        seg_end = max(seg_end, pts + dur)
                        new_pts = pts - seg_start + offset
                        new_dts = dts - seg_start + offset
                        if last_dts is not None and new_dts <= last_dts:
                            log.warning("%s: non-increasing dts at segment join, nudged", path)
                            new_dts = last_dts + 1
                            new_pts = max(new_pts, new_dts)
                        last_dts = new_dts
                        packet.pts, packet.dts = new_pts, new_dts
                        packet.time_base = time_base
                        packet.stream = video_out
                        # Audio follows the video written so far (never beyond it, so a long dub
                        # can still be cut at the video's end); the muxer interleaves the rest.
                        audio_out.feed_until(float((new_pts + dur) * time_base))
                        out.mux(packet)
                        n_packets += 1
                except AV_ERRORS as exc:
                    raise InputError(f"{path}: segment cannot be read ({describe(exc)})") from exc
                if seg_start is None:
                    raise InputError(f"{path}: segment has no video frames")
                offset += seg_end - seg_start
        assert time_base is not None
        total_s = float(offset * time_base)
        audio_out.finish(total_s)
    log.info("muxed %d segments (%d packets, %.3f s) into %s", len(segment_paths), n_packets,
             total_s, out_path)


def _rebase(packet: av.Packet, src: Fraction, dst: Fraction) -> tuple[int, int, int]:
    """(pts, dts, duration) of `packet` in time base `dst` (identity when the bases match)."""
    pts = packet.pts
    dts = packet.dts if packet.dts is not None else pts
    dur = packet.duration or 0
    if src != dst:
        scale = src / dst
        pts, dts, dur = (int(round(v * scale)) for v in (pts, dts, dur))
    return pts, dts, dur


def _audio_chunks(source: np.ndarray | Iterator[np.ndarray], channels: int) -> Iterator[np.ndarray]:
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


def _resample(chunks: Iterator[np.ndarray], src_rate: int, dst_rate: int, layout: str = "mono") -> Iterator[np.ndarray]:
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


class _AudioFeed:
    """Encodes the dub audio into the output lazily, following the video's progress.

    Chunks are pulled from the source only once the video has got past the buffered audio, so
    what is held is the unencoded rest of one chunk; chunks past the video's end are never pulled.
    """

    def __init__(self, out: av.container.OutputContainer, chunks: Iterator[np.ndarray], rate: int,
                 bitrate: int, layout: str = "mono", metadata: dict[str, str] | None = None) -> None:
        self._out = out
        self._chunks = chunks
        self._rate = rate
        self._bitrate = bitrate
        self._layout = layout
        self._channels = av.AudioLayout(layout).nb_channels
        self._metadata = dict(metadata or {})
        self._stream: av.audio.stream.AudioStream | None = None
        self._buffer = np.zeros((0, self._channels), np.float32)  # pulled, not yet encoded (starts at _written)
        self._written = 0  # samples sent to the encoder

    def add_stream(self) -> None:
        stream = self._out.add_stream("aac", rate=self._rate, layout=self._layout)
        stream.bit_rate = self._bitrate
        stream.metadata.update(self._metadata)
        stream.time_base = Fraction(1, self._rate)
        self._stream = stream

    def feed_until(self, seconds: float) -> None:
        """Encode real (not padding) audio up to `seconds`; never past the audio's end."""
        self._encode_audio(int(seconds * self._rate))

    def finish(self, video_s: float) -> None:
        """Encode the rest up to the video duration (silence if short, cut if long); flush."""
        target = int(round(video_s * self._rate))
        self._encode_audio(target)
        while self._written < target:
            self._encode(np.zeros((min(_AUDIO_CHUNK, target - self._written), self._channels), np.float32))
        self._buffer = np.zeros((0, self._channels), np.float32)
        assert self._stream is not None
        self._out.mux(self._stream.encode(None))

    def _encode_audio(self, stop: int) -> None:
        """Encode source samples up to sample `stop`, or as far as the source goes."""
        while self._written < stop:
            if not len(self._buffer):
                chunk = next(self._chunks, None)
                if chunk is None:
                    return
                self._buffer = chunk
                continue
            n = min(stop - self._written, len(self._buffer), _AUDIO_CHUNK)
            self._encode(self._buffer[:n])
            self._buffer = self._buffer[n:]

    def _encode(self, samples: np.ndarray) -> None:
        assert self._stream is not None
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples).reshape(1, -1), format="flt", layout=self._layout)
        frame.sample_rate = self._rate
        frame.pts = self._written
        frame.time_base = Fraction(1, self._rate)
        self._written += len(samples)
        self._out.mux(self._stream.encode(frame))
