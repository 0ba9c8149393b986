"""Small media fixtures generated with PyAV/numpy (shared by the media tests)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lipdub.media.video_writer import VideoWriter


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    """(channels, n) float32 sine, identical in every channel."""
    t = np.arange(int(round(seconds * rate))) / rate
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[None, :], channels, axis=0)


def write_audio(path: Path, samples: np.ndarray, rate: int, codec: str, *, layout: str | None = None,
                fmt: str | None = None) -> Path:
    """Encode planar (channels, n) float samples with `codec` into `path` (container by suffix)."""
    channels = samples.shape[0]
    layout = layout or {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}[channels]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if fmt:
            stream.format = fmt
        enc_fmt = stream.codec_context.format.name
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=enc_fmt, layout=layout, rate=rate,
                                      frame_size=frame_size)
        step = 4096
        pts = 0
        for start in range(0, samples.shape[1], step):
            chunk = samples[:, start:start + step]
            # Packed layout: PyAV 18's planar from_ndarray breaks at 8 channels.
            packed = np.ascontiguousarray(chunk.T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=layout)
            frame.sample_rate = rate
            frame.pts = pts
            pts += chunk.shape[1]
            for f in resampler.resample(frame):
                out.mux(stream.encode(f))
        for f in resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path


def color_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """Distinct, compressible upright frames with an asymmetric marker (top-left red block)."""
    frames = []
    for i in range(n):
        f = np.zeros((height, width, 3), np.uint8)
        f[..., 1] = (i * 37) % 256
        f[: height // 2, : width // 3, 0] = 255
        frames.append(f)
    return frames


def write_video(path: Path, n: int, width: int = 64, height: int = 48, fps: Fraction | int = 25,
                rotation: int = 0) -> Path:
    with VideoWriter(path, width, height, fps, rotation=rotation, preset="ultrafast") as w:
        for f in color_frames(n, width, height):
            w.write(f)
    return path


def write_vfr_video(path: Path, pts_ms: list[int], width: int = 64, height: int = 48, *,
                    frames: list[np.ndarray] | None = None, rate: int = 30) -> Path:
    """Variable-frame-rate H.264 mp4: frame i (`frames`, default plain colours) shown at pts_ms[i] ms."""
    if frames is not None:
        height, width = frames[0].shape[:2]
    else:
        frames = color_frames(len(pts_ms), width, height)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
        for pts, frame in zip(pts_ms, frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = pts
            vf.time_base = Fraction(1, 1000)
            out.mux(stream.encode(vf))
        out.mux(stream.encode(None))
    return path


def write_header_only_wav(path: Path, rate: int = 16000) -> Path:
    """A valid WAV header with zero samples."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
    return path


def assert_marker_top_left(frame: np.ndarray) -> None:
    """The color_frames marker (red block) must be in the top-left third of an upright frame."""
    h, w = frame.shape[:2]
    red = frame[..., 0].astype(int)
    assert red[: h // 4, : w // 6].mean() > 200, "top-left should be red: frame not upright"
    assert red[h * 3 // 4:, w * 5 // 6:].mean() < 50, "bottom-right should not be red"
