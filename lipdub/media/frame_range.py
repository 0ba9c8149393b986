"""Decode a range of frames without decoding the whole video before it.

Render segments start anywhere in a source: decoding from frame 0 for each would make a long
video quadratic. We seek to the keyframe before the range and decode forward, numbering frames by
their timestamps (``round((pts - start_pts) * time_base * fps)``), which is exact for
constant-rate sources. If a seek lands past the wanted frame (some containers seek imprecisely),
the timestamps are missing, or the frames before the range are not on the constant-rate grid
(a variable-frame-rate source: there a timestamp does not tell a frame's index, and frame
indices everywhere in lipdub are decode-order counts), it falls back to counting frames from the
start.
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Iterator

import numpy as np

from lipdub.errors import InputError
from lipdub.media._av import AV_ERRORS, clockwise_from_frame, clockwise_from_tag, describe, open_input, rotate_to_display
from lipdub.media.video_reader import SourceFrame, iter_frames

log = logging.getLogger(__name__)

# Seek this many seconds before the wanted frame, so we land on a keyframe before it.
_SEEK_MARGIN_S = 0.5
# Packets demuxed past the range when checking the rate grid (covers B-frame reordering).
_REORDER_FRAMES = 16


class _SeekUnusable(Exception):
    """Raised before any frame is yielded when the seek path cannot be trusted."""


def iter_frame_range(path: str | os.PathLike[str], start: int, stop: int, fps: Fraction,
                     native: bool = False) -> Iterator[np.ndarray] | Iterator[SourceFrame]:
    """Upright RGB frames ``start <= index < stop`` of the first video stream, in order (streaming);
    with `native`, `SourceFrame`s (RGB and the decoder's own picture)."""
    if stop <= start:
        return
    p = os.fspath(path)
    if start > 0:
        yielded = 0
        try:
            for frame in _seeked(p, start, stop, fps, native):
                yielded += 1
                yield frame
        except _SeekUnusable:
            log.debug("%s: seeking unusable, counting frames from the start", p)
        else:
            if yielded != stop - start:
                raise InputError(f"{p}: expected frames {start}..{stop - 1}, the video ended after {yielded}")
            return
    yield from _counted(iter_frames(p, native=native), start, stop)


def _counted(frames: Iterator, start: int, stop: int) -> Iterator:
    for index, frame in enumerate(frames):
        if index >= stop:
            return
        if index >= start:
            yield frame


def _seeked(path: str, start: int, stop: int, fps: Fraction, native: bool = False) -> Iterator[np.ndarray] | Iterator[SourceFrame]:
    """Frames of the range via a seek; raises _SeekUnusable before yielding when it cannot."""
    with open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base
        first_pts = stream.start_time if stream.start_time is not None else 0
        if time_base is None:
            raise _SeekUnusable
        if not _on_rate_grid(container, stream, first_pts, stop, fps):
            raise _SeekUnusable
        target_s = max(0.0, start / float(fps) - _SEEK_MARGIN_S)
        try:
            container.seek(first_pts + int(target_s / time_base), stream=stream, backward=True, any_frame=False)
        except AV_ERRORS as exc:
            raise _SeekUnusable from exc
        rotation = clockwise_from_tag(stream) or 0
        first = True
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    if first:
                        raise _SeekUnusable
                    raise InputError(f"{path}: frame without a timestamp after frame {start}")
                index = round(float((frame.pts - first_pts) * time_base * fps))
                if first:
                    first = False
                    if index > start:
                        raise _SeekUnusable
                    rotation = clockwise_from_frame(frame) or rotation
                if index >= stop:
                    return
                if index >= start:
                    upright = rotate_to_display(frame.to_ndarray(format="rgb24"), rotation)
                    yield SourceFrame(upright, frame, rotation) if native else upright
        except AV_ERRORS as exc:
            raise InputError(f"{path}: video cannot be decoded near frame {start} ({describe(exc)})") from exc


def _on_rate_grid(container, stream, first_pts: int, stop: int, fps: Fraction) -> bool:
    """Whether frames ``0 .. stop`` have the timestamps of a constant ``fps`` stream, so that
    ``round((pts - first_pts) * time_base * fps)`` is each frame's decode-order index.

    Demuxes (no decoding) from the start to just past ``stop``: about 10 us per packet.
    """
    time_base = stream.time_base
    limit = first_pts + (stop + _REORDER_FRAMES) / (fps * time_base)
    stamps: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is None:
                return False
            stamps.append(packet.pts)
            if (packet.dts if packet.dts is not None else packet.pts) > limit:
                break
    except AV_ERRORS:
        return False
    stamps.sort()
    return all(
        round(float((pts - first_pts) * time_base * fps)) == index for index, pts in enumerate(stamps[: stop + 1])
    )
