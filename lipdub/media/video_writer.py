"""H.264 (libx264, yuv420p) encoder for upright RGB frames, keeping the source's look.

Why: output videos must play exactly like their source: same display size and orientation,
same exact frame rate (22.13 fps stays 2213/100, NTSC stays 30000/1001), so that the dubbed
frames line up with the source timeline and with the audio.

Orientation: `write()` takes upright frames of the display size; when the source was stored
rotated (phone video), frames are rotated back to the storage orientation and the same display
matrix is written (PyAV 18 `VideoStream.set_display_rotation`), so players show the output as
they showed the source and a re-probe reports the same `rotation`.

Odd sizes: libx264 with yuv420p needs even width and height. An odd display dimension is
padded by one row/column at the bottom/right of the *upright* picture, replicating the edge
pixels. So pixel coordinates of the upright frame are unchanged and the encoded picture is at
most one pixel larger (`VideoWriter.encoded_size` tells by how much).

Timestamps: frame i gets pts i in a time base of exactly 1/fps, so the container stores a
constant, exact rate.
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from types import TracebackType

import av
import numpy as np

from lipdub.media._av import as_fraction, normalize_rotation, rotate_to_storage

log = logging.getLogger(__name__)

__all__ = ["VideoWriter"]


class VideoWriter:
    """Context manager writing upright RGB frames to an H.264 video file (video only).

    Usage::

        with VideoWriter(out, info.display_size[0], info.display_size[1], info.fps,
                         rotation=info.rotation) as w:
            for frame in frames:
                w.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: Fraction | int | float,
        *,
        crf: int = 18,
        preset: str = "veryfast",
        rotation: int = 0,
        threads: int = 0,
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        self.path = os.fspath(path)
        self.width = int(width)
        self.height = int(height)
        self.fps = as_fraction(fps)
        self.rotation = normalize_rotation(rotation)
        self.frames_written = 0
        # Upright size after padding to even dims; storage size is it, rotated.
        self._pad_w = self.width % 2
        self._pad_h = self.height % 2
        up_w, up_h = self.width + self._pad_w, self.height + self._pad_h
        if self._pad_w or self._pad_h:
            log.info("%s: odd size %dx%d padded to %dx%d for yuv420p", self.path, self.width,
                     self.height, up_w, up_h)
        self.encoded_size = (up_w, up_h)  # upright (display) size of the encoded picture
        store_w, store_h = (up_h, up_w) if self.rotation in (90, 270) else (up_w, up_h)

        self._container = av.open(self.path, mode="w")
        try:
            stream = self._container.add_stream(
                "libx264", rate=self.fps, options={"crf": str(crf), "preset": preset}
            )
            stream.width = store_w
            stream.height = store_h
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1) / self.fps
            stream.codec_context.time_base = Fraction(1) / self.fps
            stream.codec_context.thread_count = threads
            if self.rotation:
                # PyAV's angle is counter-clockwise; ours is clockwise (see lipdub.media._av).
                stream.set_display_rotation(-self.rotation)
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Encode one upright uint8 RGB frame of shape (height, width, 3)."""
        if self._closed:
            raise RuntimeError(f"{self.path}: write() after close()")
        if frame.shape != (self.height, self.width, 3):
            raise ValueError(
                f"expected frame of shape {(self.height, self.width, 3)}, got {frame.shape}"
            )
        if frame.dtype != np.uint8:
            raise ValueError(f"expected uint8 frame, got {frame.dtype}")
        if self._pad_w or self._pad_h:
            frame = np.pad(frame, ((0, self._pad_h), (0, self._pad_w), (0, 0)), mode="edge")
        stored = rotate_to_storage(frame, self.rotation)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(stored), format="rgb24")
        vf.pts = self.frames_written
        vf.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(vf))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
        log.debug("wrote %d frames to %s", self.frames_written, self.path)

    def abort(self) -> None:
        """Close without flushing and delete the partial file (used when the writer fails)."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as exc:
                log.debug("closing aborted writer %s: %s", self.path, exc)
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
