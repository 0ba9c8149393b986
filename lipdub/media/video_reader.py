"""Streaming decode of a video into upright uint8 RGB frames.

Why streaming: catalog videos can be long; callers (face analysis, atlas building, rendering)
consume frames one at a time and must never hold the whole clip in memory.

Frames come out in decode (= presentation) order, one per decoded picture: variable-rate files
yield every decoded frame, nothing is duplicated or dropped to fit a nominal rate. The display
rotation (display matrix, or the legacy ``rotate`` tag) is applied so every frame is upright.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple, TypeVar

import av
import numpy as np

from lipdub.errors import InputError
from lipdub.media._av import (
    AV_ERRORS,
    clockwise_from_frame,
    clockwise_from_tag,
    describe,
    open_input,
    rotate_to_display,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["FramePair", "SourceFrame", "iter_frame_pairs", "iter_frames", "scaled_size"]


@dataclass(frozen=True)
class SourceFrame:
    """A decoded frame both ways: upright RGB for the render, and the decoder's own picture
    (storage orientation, native pixel format) so unchanged pixels can be written back exactly."""

    rgb: np.ndarray
    native: av.VideoFrame
    rotation: int


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) after shrinking so the longer side is <= max_side (never upscales)."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decoded(path: str | os.PathLike[str], convert: Callable[[av.VideoFrame, int], T]) -> Iterator[T]:
    """``convert(picture, clockwise display rotation)`` of each decoded picture of the first video
    stream, in order; decoding and conversion errors alike become `InputError`."""
    p = os.fspath(path)
    with open_input(p) as container:
        streams = [s for s in container.streams.video
                   if not s.disposition & av.stream.Disposition.attached_pic]
        if not streams:
            raise InputError(f"{p}: has no video stream")
        stream = streams[0]
        stream.thread_type = "AUTO"  # frame + slice threads; decoding dominates reading cost
        stream.codec_context.thread_count = 0
        tag_rotation = clockwise_from_tag(stream)
        rotation: int | None = None
        index = 0
        try:
            for frame in container.decode(stream):
                if rotation is None:
                    rotation = clockwise_from_frame(frame)
                    if rotation is None:
                        rotation = tag_rotation or 0
                    log.debug("decoding %s: %dx%d rot=%d", p, frame.width, frame.height, rotation)
                converted = convert(frame, rotation)
                index += 1
                yield converted
        except AV_ERRORS as exc:
            raise InputError(f"{p}: video cannot be decoded at frame {index} ({describe(exc)})") from exc
        if index == 0:
            raise InputError(f"{p}: video stream has no decodable frames")


def _rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The picture as RGB at ``size`` (area filter inside swscale when smaller), storage orientation."""
    if size == (frame.width, frame.height):
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(width=size[0], height=size[1], format="rgb24", interpolation="AREA")


def iter_frames(path: str | os.PathLike[str], *, max_side: int | None = None, native: bool = False) -> Iterator[np.ndarray] | Iterator[SourceFrame]:
    """Yield upright RGB frames ``(H, W, 3) uint8`` of the first video stream, in order.

    With `max_side`, frames are downscaled (area filter, inside swscale, before rotation) so
    that the longer side is at most `max_side`; aspect ratio is kept. With `native`, each
    comes as a `SourceFrame` (RGB and the decoder's picture).
    Raises `InputError` if the file cannot be opened, has no video, or fails to decode.
    """
    def convert(frame: av.VideoFrame, rotation: int) -> np.ndarray | SourceFrame:
        upright = rotate_to_display(_rgb(frame, scaled_size(frame.width, frame.height, max_side)), rotation)
        return SourceFrame(upright, frame, rotation) if native else upright

    return _decoded(path, convert)


class FramePair(NamedTuple):
    """One decoded picture twice: a copy for analysis (at most ``max_side``) and the full frame."""

    small: np.ndarray
    full: np.ndarray


def iter_frame_pairs(path: str | os.PathLike[str], *, max_side: int | None = None) -> Iterator[FramePair]:
    """Like `iter_frames`, but each picture also at full resolution, from the same decode.

    The small copy is exactly what ``iter_frames(path, max_side=max_side)`` yields (the same
    swscale call), so analysis results do not depend on which of the two fed them; when no
    downscale is needed both are the same array.
    """
    def convert(frame: av.VideoFrame, rotation: int) -> FramePair:
        full = rotate_to_display(_rgb(frame, (frame.width, frame.height)), rotation)
        size = scaled_size(frame.width, frame.height, max_side)
        small = full if size == (frame.width, frame.height) else rotate_to_display(_rgb(frame, size), rotation)
        return FramePair(small, full)

    return _decoded(path, convert)
