"""Synthetic talking-face videos from scikit-image's astronaut photo, for tests and the demo.

Why a real photo: MediaPipe must find a face and measure its mouth, which drawn cartoons do not
give reliably; the astronaut portrait ships with scikit-image (no download, public domain).

The mouth is animated by a displacement field in photo coordinates: below the seam between the
upper and lower teeth, the lower lip, lower teeth and chin move down by ``opening * MAX_DROP``
(elliptical across the mouth, so the corners stay put; the chin and jaw move as a block and the
neck stretches), and the gap the drop opens shows a dark mouth cavity. The whole photo then gets a
slow head motion (shift, roll, zoom) and is cut to the frame. Measured with Face Mesh the opening
(geometry.mouth_opening) follows ``openings`` with a correlation above 0.9.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from fractions import Fraction

import cv2
import numpy as np

from lipdub.media.video_writer import VideoWriter

logger = logging.getLogger(__name__)

# Astronaut photo geometry (512x512 pixels), measured once with Face Mesh.
_MOUTH_LEFT = (201.0, 139.0)  # outer mouth corner on the image left (landmark 61)
_MOUTH_RIGHT = (245.9, 141.7)  # landmark 291
_SEAM_CENTRE_Y = 146.0  # between upper and lower front teeth
_CHIN_Y = 176.4  # landmark 152
_FACE_CENTRE = (224.0, 128.0)  # between the eyes and the chin
_INTER_OCULAR = 62.6  # 33-263 distance
_JAW_HALF_WIDTH = (50.0, 75.0)  # full drop within the first, none beyond the second (from the mouth centre)
_REGION = (140, 128, 310, 240)  # x0, y0, x1, y1 of the photo area the mouth warp may change
MAX_DROP = 0.32 * _INTER_OCULAR  # jaw drop in photo pixels at opening 1
_CAVITY_RGB = np.array([38.0, 14.0, 16.0], np.float32)  # the throat: darkest at the back
_TONGUE_RGB = np.array([150.0, 66.0, 72.0], np.float32)
_LOWER_TEETH_RGB = np.array([214.0, 200.0, 186.0], np.float32)
_UPPER_TEETH_SHADOW = 0.55  # the cavity just under the upper teeth is in their shadow
_FACE_FRACTION = 0.25  # inter-ocular distance as a fraction of the frame's shorter side


def astronaut_photo() -> np.ndarray:
    """scikit-image's astronaut portrait, 512x512 RGB uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def syllable_openings(n_frames: int, fps: float, seed: int = 0) -> np.ndarray:
    """Per-frame mouth openings in [0, 1] with a speech-like rhythm.

    Syllables of 0.12-0.3 s (raised-cosine bumps of random height), about one pause of
    0.2-0.5 s (mouth closed) in six, starting and ending closed.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(n_frames, np.float32)
    t = int(round(0.2 * fps))
    while t < n_frames:
        if rng.random() < 0.16:
            t += max(1, int(round(rng.uniform(0.2, 0.5) * fps)))
            continue
        length = max(3, int(round(rng.uniform(0.12, 0.3) * fps)))
        bump = np.sin(np.linspace(0.0, np.pi, length + 2)[1:-1]) ** 2 * rng.uniform(0.4, 1.0)
        stop = min(n_frames, t + length)
        out[t:stop] = np.maximum(out[t:stop], bump[: stop - t])
        t += length
    return out


class _MouthWarp:
    """Opens the astronaut's mouth inside ``_REGION`` by a downward displacement field.

    The field is defined forwards, on where a pixel *comes from*: a photo pixel ``s`` rows below
    the seam moves down by ``opening * MAX_DROP * weight(x, s)``. The weight follows an elliptical
    profile across the mouth near the seam (corners fixed) and the wider jaw further down, then
    fades to zero on the neck. Output pixels are pulled back through it by a few fixed-point steps;
    those between the seam and where the lower lip went are the open mouth.
    """

    def __init__(self) -> None:
        x0, y0, x1, y1 = _REGION
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        self.xs, self.ys = xs, ys
        (lx, ly), (rx, ry) = _MOUTH_LEFT, _MOUTH_RIGHT
        centre_x = (lx + rx) / 2.0
        u = np.clip((xs - centre_x) / ((rx - lx) / 2.0), -1.0, 1.0)
        corner_y = ly + (ry - ly) * (u + 1.0) / 2.0
        # Seam: a dip from the corners down to the teeth line, flat (at the corners) beyond them.
        self.seam = corner_y + (_SEAM_CENTRE_Y - (ly + ry) / 2.0) * (1.0 - u ** 2)
        self.mouth_profile = np.sqrt(np.clip(1.0 - u ** 2, 0.0, 1.0))
        self.across = u  # -1 .. 1 from corner to corner
        jaw_in, jaw_out = _JAW_HALF_WIDTH
        dist = np.abs(xs - centre_x)
        self.jaw_profile = np.where(dist <= jaw_in, 1.0,
                                    np.cos(np.clip((dist - jaw_in) / (jaw_out - jaw_in), 0, 1) * np.pi / 2) ** 2)

    def weight(self, source_y: np.ndarray) -> np.ndarray:
        """Drop weight of photo pixels at rows ``source_y`` (per column of the region)."""
        below = source_y - self.seam
        blend = _smoothstep(below / 16.0)  # lips and teeth follow the mouth profile, the chin the jaw
        fade = 1.0 - _smoothstep((source_y - _CHIN_Y - 4.0) / 50.0)  # the neck stretches below the chin
        return np.where(below >= 0, ((1.0 - blend) * self.mouth_profile + blend * self.jaw_profile) * fade, 0.0)

    def apply(self, photo: np.ndarray, opening: float, out: np.ndarray) -> None:
        """Write the photo with the mouth opened by ``opening`` in [0, 1] into ``out`` (same shape)."""
        x0, y0, x1, y1 = _REGION
        out[...] = photo
        drop = float(opening) * MAX_DROP
        if drop <= 0.0:
            return
        gap = drop * self.mouth_profile  # how far the lower lip went down, per column
        below_seam = self.ys >= self.seam
        source_y = self.ys.copy()
        for _ in range(6):
            source_y = np.where(below_seam, self.ys - drop * self.weight(np.maximum(source_y, self.seam)), self.ys)
        moved = cv2.remap(photo, self.xs, source_y.astype(np.float32), interpolation=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101).astype(np.float32)
        depth = self.ys - self.seam  # rows below the seam in the output
        inside = np.clip(np.minimum(depth + 0.5, gap - depth + 0.5), 0.0, 1.0) * (gap > 0.75)
        cavity = self._interior(depth / np.maximum(gap, 1.0), gap)
        mixed = moved * (1.0 - inside[..., None]) + cavity * inside[..., None]
        out[y0:y1, x0:x1] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


    def _interior(self, down: np.ndarray, gap: np.ndarray) -> np.ndarray:
        """The open mouth's colours: a dark throat, lighter and warmer towards the lips and the
        corners, shadow under the upper teeth, and the tongue rising from the lower teeth once
        the mouth is open enough to show it. ``down``: 0 at the upper teeth, 1 at the lower lip."""
        down = np.clip(down, 0.0, 1.0)
        side = np.abs(self.across)
        # Light from outside reaches the front of the cavity (near the lips and corners), not the throat.
        lit = 1.0 + 0.9 * np.clip(np.maximum(side - 0.45, 0.0) / 0.55 + np.abs(down - 0.45) * 0.8, 0.0, 1.0)
        cavity = _CAVITY_RGB * lit[..., None]
        cavity *= (1.0 - _UPPER_TEETH_SHADOW * (1.0 - _smoothstep(down / 0.25)))[..., None]
        # The tongue: an arch over the lower teeth, its top edge shaded, more of it as the mouth opens.
        height = 0.45 * np.clip((gap - 3.0) / 6.0, 0.0, 1.0)
        top = 1.0 - height * np.sqrt(np.clip(1.0 - (self.across / 0.8) ** 2, 0.0, 1.0))
        tongue = _smoothstep((down - top) / 0.12) * (side < 0.8)
        tongue_colour = _TONGUE_RGB * (0.75 + 0.25 * _smoothstep((down - top) / 0.3))[..., None]
        interior = cavity * (1.0 - tongue[..., None]) + tongue_colour * tongue[..., None]
        # The lower front teeth show above the lower lip, in front of the tongue, once open.
        teeth = _smoothstep((down - 0.82) / 0.06) * _smoothstep((0.62 - side) / 0.15) * np.clip((gap - 5.0) / 4.0, 0.0, 1.0)
        return interior * (1.0 - teeth[..., None]) + _LOWER_TEETH_RGB * teeth[..., None]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _head_pose(t: float, rng_phases: np.ndarray, amount: float) -> tuple[float, float, float, float]:
    """Slow shift (fractions of the frame), roll (degrees) and zoom for time ``t`` seconds."""
    p = rng_phases
    dx = amount * 0.025 * np.sin(2 * np.pi * 0.31 * t + p[0])
    dy = amount * 0.02 * np.sin(2 * np.pi * 0.43 * t + p[1])
    roll = amount * 3.0 * np.sin(2 * np.pi * 0.23 * t + p[2])
    zoom = 1.0 + amount * 0.03 * np.sin(2 * np.pi * 0.17 * t + p[3])
    return float(dx), float(dy), float(roll), float(zoom)


def _photo_to_frame(size: tuple[int, int], pose: tuple[float, float, float, float], mirror: bool) -> np.ndarray:
    """2x3 affine placing the astronaut's face at the centre of a ``size`` frame with ``pose``."""
    width, height = size
    dx, dy, roll, zoom = pose
    scale = _FACE_FRACTION * min(width, height) / _INTER_OCULAR * zoom
    centre = (width / 2.0 + dx * width, height / 2.0 + dy * height)
    matrix = cv2.getRotationMatrix2D(_FACE_CENTRE, roll, scale)
    matrix[:, 2] += np.array(centre) - np.array(_FACE_CENTRE)
    if mirror:
        matrix = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([matrix, [0, 0, 1]])
    return matrix


def _check_openings(openings: np.ndarray | None, n_frames: int, fps: float, seed: int) -> np.ndarray:
    if openings is None:
        return syllable_openings(n_frames, fps, seed)
    values = np.clip(np.asarray(openings, dtype=np.float32).reshape(-1), 0.0, 1.0)
    if len(values) < n_frames:
        values = np.concatenate([values, np.zeros(n_frames - len(values), np.float32)])
    return values[:n_frames]


def talking_face_frames(openings: np.ndarray, fps: float, *, size: tuple[int, int] = (320, 320), seed: int = 0,
                        head_motion: float = 1.0) -> Iterator[np.ndarray]:
    """Upright RGB frames of the talking astronaut, one per value of ``openings``."""
    photo = astronaut_photo()
    warp = _MouthWarp()
    phases = np.random.default_rng(seed + 1).uniform(0, 2 * np.pi, 4)
    buffer = np.empty_like(photo)
    for index, opening in enumerate(openings):
        warp.apply(photo, float(opening), buffer)
        matrix = _photo_to_frame(size, _head_pose(index / fps, phases, head_motion), mirror=False)
        yield cv2.warpAffine(buffer, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def two_face_frames(openings: np.ndarray, fps: float, *, size: tuple[int, int] = (640, 320), seed: int = 0,
                    talking: str = "left") -> Iterator[np.ndarray]:
    """Two astronauts side by side (the right one mirrored); only the ``talking`` one moves her mouth."""
    if talking not in ("left", "right"):
        raise ValueError(f"talking must be 'left' or 'right', got {talking!r}")
    width, height = size
    half = (width // 2, height)
    photo = astronaut_photo()
    warp = _MouthWarp()
    rng = np.random.default_rng(seed + 1)
    phases = (rng.uniform(0, 2 * np.pi, 4), rng.uniform(0, 2 * np.pi, 4))
    buffer = np.empty_like(photo)
    frame = np.empty((height, width, 3), np.uint8)
    for index, opening in enumerate(openings):
        t = index / fps
        for side, x0 in ((0, 0), (1, half[0])):
            talks = (side == 0) == (talking == "left")
            warp.apply(photo, float(opening) if talks else 0.0, buffer)
            matrix = _photo_to_frame(half, _head_pose(t, phases[side], 1.0), mirror=side == 1)
            frame[:, x0:x0 + half[0]] = cv2.warpAffine(buffer, matrix, half, flags=cv2.INTER_LINEAR,
                                                       borderMode=cv2.BORDER_REFLECT101)
        yield frame.copy()


def no_face_frames(n_frames: int, fps: float, *, size: tuple[int, int] = (320, 240),
                   seed: int = 0) -> Iterator[np.ndarray]:
    """Moving colour gradients and a bouncing box: motion without any face."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = rng.uniform(40, 200, 3)
    xs, ys = np.meshgrid(np.linspace(0, 1, width, dtype=np.float32), np.linspace(0, 1, height, dtype=np.float32))
    for index in range(n_frames):
        t = index / fps
        frame = np.empty((height, width, 3), np.float32)
        for c in range(3):
            frame[..., c] = base[c] + 50 * np.sin(2 * np.pi * (xs * (c + 1) + ys + 0.2 * t))
        bx = int((0.5 + 0.4 * np.sin(1.3 * t)) * (width - 40))
        by = int((0.5 + 0.4 * np.cos(0.9 * t)) * (height - 40))
        frame[by:by + 40, bx:bx + 40] = (230, 60, 40)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def _write(path: str | os.PathLike[str], frames: Iterator[np.ndarray], size: tuple[int, int], fps: float,
           rotation: int) -> None:
    with VideoWriter(path, size[0], size[1], Fraction(fps).limit_denominator(100000), rotation=rotation) as writer:
        for frame in frames:
            writer.write(frame)


def make_talking_face_video(path: str | os.PathLike[str], *, seconds: float = 3.0, fps: float = 25,
                            openings: np.ndarray | None = None, size: tuple[int, int] = (320, 320), seed: int = 0,
                            rotation: int = 0) -> np.ndarray:
    """Write a video of the astronaut talking; returns the per-frame openings used (T,) float32.

    ``openings``: per-frame values in [0, 1] (padded with 0 / cut to ``seconds * fps`` frames);
    default ``syllable_openings``. ``size`` is (width, height) of the upright frames; ``rotation``
    (clockwise degrees) is stored as display metadata, as phones do.
    """
    n_frames = max(1, int(round(seconds * fps)))
    values = _check_openings(openings, n_frames, fps, seed)
    _write(path, talking_face_frames(values, fps, size=size, seed=seed), size, fps, rotation)
    return values


def make_two_face_video(path: str | os.PathLike[str], *, seconds: float = 3.0, fps: float = 25,
                        openings: np.ndarray | None = None, size: tuple[int, int] = (640, 320), seed: int = 0,
                        talking: str = "left", rotation: int = 0) -> np.ndarray:
    """Write two astronauts side by side, only the ``talking`` one speaking; returns its openings.

    Each face is centred in its half of the frame (the right one mirrored).
    """
    n_frames = max(1, int(round(seconds * fps)))
    values = _check_openings(openings, n_frames, fps, seed)
    _write(path, two_face_frames(values, fps, size=size, seed=seed, talking=talking), size, fps, rotation)
    return values


def make_no_face_video(path: str | os.PathLike[str], *, seconds: float = 1.0, fps: float = 25,
                       size: tuple[int, int] = (320, 240), seed: int = 0, rotation: int = 0) -> None:
    """Write a video with motion but no face (for the no-face error path)."""
    n_frames = max(1, int(round(seconds * fps)))
    _write(path, no_face_frames(n_frames, fps, size=size, seed=seed), size, fps, rotation)
