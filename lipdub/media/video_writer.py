"""Video encoder (H.264 by default; H.265, ProRes 422 HQ) for upright RGB frames, keeping the
source's look.

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

Picture format (``picture``, the source's `PictureFormat`): the output keeps the source's chroma
subsampling and bit depth where the codec has them, its colour tags (explicit ones when it has
none) and its sample aspect ratio; RGB is converted back with the matrix and range the decoder
used, so the source's YUV values survive. Without it: yuv420p, untagged (internal test clips).
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from types import TracebackType

import av
import numpy as np

from lipdub.media._av import as_fraction, normalize_rotation, rotate_to_storage
from lipdub.media.delivery import VIDEO_CODECS, PictureFormat, encoder_settings, output_pix_fmt

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
        codec: str = "h264",
        picture: PictureFormat | None = None,
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        self.path = os.fspath(path)
        self.width = int(width)
        self.height = int(height)
        self.fps = as_fraction(fps)
        self.rotation = normalize_rotation(rotation)
        self.frames_written = 0
        if codec not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {codec!r}: use one of {', '.join(VIDEO_CODECS)}")
        self.codec = codec
        self.pix_fmt = output_pix_fmt(picture.pix_fmt if picture is not None else "yuv420p", codec)
        # Upright size after padding to even dims (4:2:0 and 4:2:2 need even widths, 4:2:0 even
        # heights); storage size is it, rotated.
        self._pad_w = self.width % 2
        self._pad_h = self.height % 2
        up_w, up_h = self.width + self._pad_w, self.height + self._pad_h
        if self._pad_w or self._pad_h:
            log.info("%s: odd size %dx%d padded to %dx%d for %s", self.path, self.width,
                     self.height, up_w, up_h, self.pix_fmt)
        self.encoded_size = (up_w, up_h)  # upright (display) size of the encoded picture
        store_w, store_h = (up_h, up_w) if self.rotation in (90, 270) else (up_w, up_h)

        # MOV writes colour tags only when asked (MP4 and Matroska always do).
        options = {"movflags": "write_colr"} if self.path.lower().endswith(".mov") else {}
        self._container = av.open(self.path, mode="w", options=options)
        try:
            stream = self._container.add_stream(VIDEO_CODECS[codec], rate=self.fps, options=encoder_settings(codec, crf, preset))
            stream.width = store_w
            stream.height = store_h
            stream.pix_fmt = self.pix_fmt
            self._matrix: str | None = None
            self._full_range = False
            if picture is not None:
                self._tag(stream, picture, min(store_w, store_h))
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

    def _tag(self, stream: av.video.stream.VideoStream, picture: PictureFormat, lines: int) -> None:
        """Colour tags and sample aspect ratio on the encoder; remember the conversion matrix."""
        context = stream.codec_context
        for name, value in picture.delivered_tags(lines).items():
            setattr(context, name, value)
        if picture.sample_aspect_ratio is not None:
            context.sample_aspect_ratio = picture.sample_aspect_ratio
        if self.codec == "h265" and self.path.lower().endswith((".mp4", ".mov")):
            stream.codec_tag = "hvc1"  # what Apple players require of HEVC in MP4/MOV
        self._matrix = picture.conversion_matrix()
        self._full_range = picture.full_range

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
        if self._matrix is not None:
            # Back to YUV with the matrix and range the decoder used (not swscale's default).
            vf = vf.reformat(format=self.pix_fmt, dst_colorspace=self._matrix, dst_color_range="JPEG" if self._full_range else "MPEG")
        vf.pts = self.frames_written
        vf.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(vf))
        self.frames_written += 1

    def write_over(self, source: av.VideoFrame, frame: np.ndarray, box: tuple[int, int, int, int] | None) -> None:
        """Encode ``frame`` (upright RGB) given that it equals the decoded ``source`` picture
        outside ``box`` (x0, y0, x1, y1; None: everywhere).

        Why: the source's own YUV samples are written back outside the box, and only the box goes
        through RGB -> YUV. A full-frame RGB round trip costs ~1 dB PSNR everywhere (and swscale's
        RGB -> YUV ~5 ms per 720p frame), and would bring a 10-bit source down to 8 bits. Falls back
        to `write` when the source cannot be used as is (rotated or padded output, other size).
        """
        if self._closed:
            raise RuntimeError(f"{self.path}: write() after close()")
        if self.rotation or self._pad_w or self._pad_h or (source.width, source.height) != (self.width, self.height):
            self.write(frame)
            return
        if frame.shape != (self.height, self.width, 3):
            raise ValueError(f"expected frame of shape {(self.height, self.width, 3)}, got {frame.shape}")
        if source.format.name == self.pix_fmt:
            out = _copy_frame(source)  # a source frame can be shown again (loops): never edit it
        else:  # YUV -> YUV (depth, chroma siting): no matrix involved, the range kept as it is
            value_range = "JPEG" if self._full_range else "MPEG"
            out = source.reformat(format=self.pix_fmt, src_color_range=value_range, dst_color_range=value_range)
        if box is not None:
            self._paste(out, frame, box)
        out.pts = self.frames_written
        out.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(out))
        self.frames_written += 1

    def _paste(self, out: av.VideoFrame, frame: np.ndarray, box: tuple[int, int, int, int]) -> None:
        """Overwrite ``box`` of ``out``'s planes with ``frame``'s pixels, converted like `write`."""
        x0, y0, x1, y1 = box
        # Even edges: a chroma sample of 4:2:0/4:2:2 covers 2 pixels and must come from one side.
        x0, y0 = x0 - x0 % 2, y0 - y0 % 2
        x1, y1 = min(self.width, x1 + x1 % 2), min(self.height, y1 + y1 % 2)
        if x1 <= x0 or y1 <= y0:
            return
        region = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[y0:y1, x0:x1]), format="rgb24")
        options = {} if self._matrix is None else {"dst_colorspace": self._matrix, "dst_color_range": "JPEG" if self._full_range else "MPEG"}
        region = region.reformat(format=self.pix_fmt, **options)
        deep = _is_deep(out)
        for target, patch in zip(out.planes, region.planes):
            step_x, step_y = self.width // target.width, self.height // target.height
            _plane_array(target, deep)[y0 // step_y:y1 // step_y, x0 // step_x:x1 // step_x] = _plane_array(patch, deep)

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


def _plane_array(plane: av.video.plane.VideoPlane, deep: bool) -> np.ndarray:
    """A writable (height, width) view of one plane's samples (``deep``: 16-bit words)."""
    dtype = np.uint16 if deep else np.uint8
    rows = np.ndarray((plane.height, plane.line_size // dtype().itemsize), dtype=dtype, buffer=plane)
    return rows[:, : plane.width]


def _is_deep(frame: av.VideoFrame) -> bool:
    return frame.format.components[0].bits > 8


def _copy_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """A new frame with the same format, size, samples and colour properties."""
    copy = av.VideoFrame(frame.width, frame.height, frame.format.name)
    deep = _is_deep(frame)
    for target, source in zip(copy.planes, frame.planes):
        _plane_array(target, deep)[...] = _plane_array(source, deep)
    copy.colorspace, copy.color_range = frame.colorspace, frame.color_range
    return copy
