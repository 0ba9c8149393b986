"""Join rendered video segments and the dub audio into the final file, without re-encoding video.

Why remux: rendering runs in parallel per segment (each a `VideoWriter` file); decoding and
re-encoding them again would cost as much as the render and lose quality. Packets are copied
with timestamps shifted so the segments play back to back. The dub track is either copied
packet for packet (its codec fits the container) or encoded once (AAC, or PCM/FLAC for lossless
delivery) in its own channel layout (mono, stereo, 5.1, 7.1: a delivered mix is never folded
down), with its language and title tags; it ends with the video or, delivered whole, at its own
last sample. Encoded audio may come as one array or as chunks (`iter_audio_chunks`); chunks are
pulled only as the video advances, so a film-length dub is never in memory whole. More tracks
(the source's own audio, subtitles) and chapters can follow (lipdub/media/tracks.py).

Requirements on the segments: same codec, size and encoder settings (as `VideoWriter` with the
same arguments produces), video only. The first segment's display rotation, colour tags and
sample aspect ratio are kept. The container follows the output's extension (.mp4, .mov, .mkv).
"""
from __future__ import annotations

import functools
import logging
import os
from fractions import Fraction
from typing import Iterable, Iterator, Sequence

import av
import numpy as np

from lipdub.errors import InputError
from lipdub.media._av import AV_ERRORS, describe, open_input
from lipdub.media.tracks import CopiedStream, EncodedAudio, Track, as_float_chunks, copy_chapters, resample_chunks

log = logging.getLogger(__name__)

__all__ = ["mux_segments", "aac_accepts", "delivered_audio", "AAC_RATES", "FALLBACK_RATE"]

#: Sample rates the AAC encoder accepts; others are resampled to 48 kHz.
AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000,
                        11025, 8000, 7350})
#: The output rate for dubs at a rate AAC cannot carry.
FALLBACK_RATE = 48000
#: What an untagged dub with this many channels is taken as (FFmpeg's default layouts).
_STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


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
        # Untagged (a plain PCM WAV): FFmpeg's default order for that count, said in the log
        # (a warning where the order matters: one or two channels cannot be misread).
        log.log(logging.WARNING if channels > 2 else logging.DEBUG, "%s: untagged %d-channel dub taken as %s", uri, channels, standard)
        layout = standard
    return layout, sample_rate if sample_rate in AAC_RATES else FALLBACK_RATE


def mux_segments(
    segment_paths: list[str],
    audio: np.ndarray | Iterable[np.ndarray] | CopiedStream,
    sample_rate: int,
    out_path: str,
    *,
    audio_bitrate: int = 128000,
    metadata: dict[str, str] | None = None,
    audio_layout: str = "mono",
    audio_metadata: dict[str, str] | None = None,
    audio_codec: str = "aac",
    audio_sample_format: str | None = None,
    audio_to_end: bool = False,
    extra_tracks: Sequence[Track] = (),
    chapters_from: tuple[str, float] | None = None,
) -> None:
    """Concatenate `segment_paths` (remux, any codec `VideoWriter` writes) and add the dub track.

    ``audio``: a `CopiedStream` (the dub's packets as they are), or float audio in [-1, 1] to
    encode as `audio_codec` (AAC; PCM/FLAC with `audio_sample_format` for lossless delivery):
    the whole track as one array, or any other iterable of arrays (chunks, e.g.
    `iter_audio_chunks`), all at `sample_rate`. With ``audio_layout="mono"`` each is (n,) or
    (n, channels), averaged to mono; with another layout (FFmpeg's name: "stereo", "5.1(side)")
    each is (n, channels) in that layout's channel order and the track keeps it. Chunks are
    pulled only as the video advances; the iterator is closed when done (a generator's file with
    it). The first chunk is taken before the output is opened, so a missing or unreadable dub
    fails without touching `out_path`.
    ``audio_to_end``: the track is the whole dub, to its last sample (the video then ends within a
    frame of it); otherwise it is padded with silence or cut to end exactly with the video.
    ``metadata``: container tags to write (e.g. ``{"comment": ...}``; mp4 keeps the standard ones).
    ``audio_metadata``: the audio track's tags (``language``: ISO 639-2, ``title``).
    ``extra_tracks``: more tracks after the dub (the source's own audio, subtitles), cut at the
    video's end. ``chapters_from``: (file, seconds): that file's chapters up to seconds.

    The container follows `out_path`'s extension. The video's frame count is the sum of the
    segments'. Raises `InputError` for unreadable segments and `ValueError` for incompatible ones.
    """
    if not segment_paths:
        raise ValueError("mux_segments needs at least one segment")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    out_path = os.fspath(out_path)
    tracks: list[Track] = []
    try:
        if isinstance(audio, CopiedStream):
            tracks.append(audio)
        else:
            layout = av.AudioLayout(audio_layout)
            source = audio if isinstance(audio, np.ndarray) else iter(audio)
            if not isinstance(source, np.ndarray):
                tracks.append(_Closing(source))  # closed even if the first chunk fails
            chunks = as_float_chunks(source, layout.nb_channels)
            out_rate = sample_rate
            if audio_codec == "aac" and sample_rate not in AAC_RATES:
                out_rate = FALLBACK_RATE
                log.info("dub audio at %d Hz resampled to %d Hz (AAC has no %d Hz)", sample_rate, out_rate, sample_rate)
                chunks = resample_chunks(chunks, sample_rate, out_rate, layout.name)
            tracks.insert(0, EncodedAudio(chunks, out_rate, layout.name, codec=audio_codec, bitrate=audio_bitrate,
                                          sample_format=audio_sample_format, metadata=audio_metadata, to_end=audio_to_end))
        tracks.extend(extra_tracks)
        try:
            _mux(segment_paths, [t for t in tracks if not isinstance(t, _Closing)], out_path, metadata or {}, chapters_from)
        except BaseException:
            # A half-written container is useless and could be mistaken for a result.
            try:
                os.remove(out_path)
            except FileNotFoundError:
                pass
            raise
    finally:
        for track in tracks:
            track.close()


class _Closing:
    """Closes the caller's chunk iterator (a generator holding the dub's file) when muxing ends."""

    def __init__(self, source: Iterator[np.ndarray]) -> None:
        self._source = source

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


def _mux(segment_paths: list[str], tracks: list[Track], out_path: str, metadata: dict[str, str],
         chapters_from: tuple[str, float] | None = None) -> None:
    """The remux itself; `tracks` (the dub first) follow the video as it is written."""
    out_opts = {"movflags": "+faststart"} if out_path.lower().endswith((".mp4", ".mov", ".m4v")) else {}
    if out_path.lower().endswith(".mov"):
        out_opts["movflags"] += "+write_colr"
    with av.open(out_path, mode="w", options=out_opts) as out:
        out.metadata.update(metadata)
        if chapters_from is not None:
            copy_chapters(chapters_from[0], out, chapters_from[1])
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
                    # Template copies codec parameters and side data, rotation matrix and colour
                    # tags included.
                    video_out = out.add_stream_from_template(vin)
                    if params[0] == "hevc" and out_path.lower().endswith((".mp4", ".mov", ".m4v")):
                        video_out.codec_tag = "hvc1"  # what Apple players require of HEVC in MP4/MOV
                    time_base = vin.time_base
                    template = params
                    for track in tracks:  # video first: stream 0 is video as in the sources
                        track.add_stream(out)
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
                        for track in tracks:
                            track.feed_until(float((new_pts + dur) * time_base))
                        out.mux(packet)
                        n_packets += 1
                except AV_ERRORS as exc:
                    raise InputError(f"{path}: segment cannot be read ({describe(exc)})") from exc
                if seg_start is None:
                    raise InputError(f"{path}: segment has no video frames")
                offset += seg_end - seg_start
        assert time_base is not None
        total_s = float(offset * time_base)
        for track in tracks:
            track.finish(total_s)
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
