"""Cheap facts about a media file (size, rotation, exact rate, frame count, audio layout).

Why: every later stage (face analysis, rendering, muxing) sizes buffers and timelines from
these numbers, and bad inputs must be rejected here with one readable line instead of failing
deep inside a Ray task with an FFmpeg traceback.

Probing decodes at most the first video frame (to read the display-matrix rotation, which
PyAV 18 only exposes on decoded frames) and demuxes, without decoding, only when the container
does not state a frame count.

Rotation is in degrees clockwise (see `lipdub.media._av`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import av.stream

from lipdub.errors import InputError
from lipdub.media.delivery import PictureFormat
from lipdub.media._av import (
    AV_ERRORS,
    clockwise_from_frame,
    clockwise_from_tag,
    describe,
    open_input,
)

log = logging.getLogger(__name__)

__all__ = ["AudioInfo", "VideoInfo", "probe_audio", "probe_video"]


@dataclass(frozen=True)
class VideoInfo:
    """What downstream stages need to know about a video file.

    `width`/`height` are the stored (coded) picture size; `rotation` (clockwise degrees) turns
    it upright; `display_size` is what users and all of lipdub's frame arrays see.
    `fps` is the average rate (exact fraction; for variable-rate files the mean).
    Audio fields are None when `has_audio` is False.
    """

    width: int
    height: int
    rotation: int
    fps: Fraction
    n_frames: int
    duration_s: float
    video_codec: str
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    picture: PictureFormat = PictureFormat()
    audio_codec: str | None = None
    audio_layout: str | None = None
    audio_index: int | None = None  # the first audio stream's index in the file
    audio_language: str | None = None  # its language tag, if it has one
    subtitles: tuple[tuple[int, str, str], ...] = ()  # (stream index, codec, language) of each subtitle track
    n_chapters: int = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) of upright frames, i.e. after applying `rotation`."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioInfo:
    """Audio stream facts; `duration_s` > 0 is guaranteed by `probe_audio`."""

    sample_rate: int
    channels: int
    duration_s: float
    codec: str
    layout: str = ""  # FFmpeg's name: "mono", "stereo", "5.1(side)", "8 channels" when untagged
    sample_format: str = ""  # the decoder's ("fltp", "s16", "s32"): FLAC's depth
    stream_index: int = 0  # the first audio stream's index in the file


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """First real video stream; cover art (attached pictures, e.g. in mp3/m4a) is not video."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _first_frame_and_count(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, need_count: bool
) -> tuple[av.VideoFrame | None, int]:
    """Decode until the first frame; keep demuxing (no decode) to count packets if needed."""
    first: av.VideoFrame | None = None
    count = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the flush packet demux() yields at the end
        count += 1
        if first is None:
            frames = stream.decode(packet)
            if frames:
                first = frames[0]
        if first is not None and not need_count:
            break
    if first is None and count:
        frames = stream.decode(None)  # flush: decoders with delay (B-frames, threads)
        if frames:
            first = frames[0]
    return first, count


def _check_not_truncated(path: str, stream: av.stream.Stream) -> None:
    """Reject files whose index points past the end of the file (cut-off downloads/copies)."""
    entries = stream.index_entries
    try:
        n = len(entries)
        if n == 0:
            return
        last = entries[n - 1]
        end = last.pos + last.size
    except AV_ERRORS:
        return
    if last.pos >= 0 and end > os.path.getsize(path):
        raise InputError(f"{path}: file is truncated (index expects {end} bytes, file has "
                         f"{os.path.getsize(path)})")


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Probe a local video file; raise `InputError` for anything lipdub cannot process."""
    p = os.fspath(path)
    with open_input(p) as container:
        stream = _video_stream(container)
        if stream is None:
            raise InputError(f"{p}: has no video stream")
        _check_not_truncated(p, stream)
        declared = int(stream.frames or 0)
        try:
            first, counted = _first_frame_and_count(container, stream, need_count=declared <= 0)
        except AV_ERRORS as exc:
            raise InputError(f"{p}: video stream cannot be read ({describe(exc)})") from exc
        n_frames = declared if declared > 0 else counted
        if n_frames <= 0 or first is None:
            raise InputError(f"{p}: video stream has no decodable frames")

        cc = stream.codec_context
        width = int(cc.width or first.width)
        height = int(cc.height or first.height)
        rotation = clockwise_from_frame(first)
        if rotation is None:
            rotation = clockwise_from_tag(stream) or 0

        duration_s = 0.0
        if stream.duration and stream.time_base:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration:
            duration_s = container.duration / av.time_base
        fps = _rate(p, stream, n_frames, duration_s)
        if duration_s <= 0:
            duration_s = n_frames / float(fps)

        audio = container.streams.audio[0] if container.streams.audio else None
        info = VideoInfo(
            width=width,
            height=height,
            rotation=rotation,
            fps=fps,
            n_frames=n_frames,
            duration_s=duration_s,
            video_codec=cc.name,
            has_audio=audio is not None,
            audio_sample_rate=int(audio.codec_context.sample_rate) if audio is not None else None,
            audio_channels=int(audio.codec_context.channels) if audio is not None else None,
            picture=PictureFormat.of_stream(stream),
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_layout=str(audio.codec_context.layout.name) if audio is not None else None,
            audio_index=audio.index if audio is not None else None,
            audio_language=_language(audio) if audio is not None else None,
            subtitles=tuple((s.index, s.codec_context.name if s.codec_context else "", _language(s) or "und")
                            for s in container.streams.subtitles),
            n_chapters=len(container.chapters()),
        )
    log.debug("probed %s: %s", p, info)
    return info


def _language(stream: av.stream.Stream) -> str | None:
    language = (stream.metadata.get("language") or "").strip()
    return language if language and language != "und" else None


def _rate(
    path: str, stream: av.video.stream.VideoStream, n_frames: int, duration_s: float
) -> Fraction:
    """Average frame rate as an exact fraction, with fallbacks for containers that omit it."""
    for candidate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if candidate and candidate > 0:
            return Fraction(candidate)
    if duration_s > 0:
        return Fraction(n_frames / duration_s).limit_denominator(1001)
    raise InputError(f"{path}: video stream has no usable frame rate")


def probe_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """Probe the first audio stream of any container; `InputError` if none or if it is empty."""
    p = os.fspath(path)
    with open_input(p) as container:
        if not container.streams.audio:
            raise InputError(f"{p}: has no audio stream")
        stream = container.streams.audio[0]
        _check_not_truncated(p, stream)  # else only the part before the cut would be dubbed
        cc = stream.codec_context
        try:
            duration_s = _audio_duration(container, stream)
        except AV_ERRORS as exc:
            raise InputError(f"{p}: audio stream cannot be decoded ({describe(exc)})") from exc
        if duration_s <= 0:
            raise InputError(f"{p}: audio stream is empty")
        return AudioInfo(
            sample_rate=int(cc.sample_rate),
            channels=int(cc.channels),
            duration_s=duration_s,
            codec=cc.name,
            layout=str(cc.layout.name),
            sample_format=str(cc.format.name) if cc.format is not None else "",
            stream_index=stream.index,
        )


def _audio_duration(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float:
    """Stated duration when a first packet decodes; otherwise count decoded samples."""
    stated = 0.0
    if stream.duration and stream.time_base:
        stated = float(stream.duration * stream.time_base)
    elif container.duration:
        stated = container.duration / av.time_base
    samples = 0
    rate = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        for frame in stream.decode(packet):
            samples += frame.samples
            rate = frame.sample_rate
        if samples and stated > 0:
            return stated  # the stream really decodes; trust the header for the length
    for frame in stream.decode(None):
        samples += frame.samples
        rate = frame.sample_rate
    if samples == 0 or rate == 0:
        return 0.0
    return samples / rate
