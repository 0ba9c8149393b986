"""Fixtures for renderer tests: a real Face Mesh landmark set on scikit-image's astronaut, animated.

Drawn synthetic faces are not detectable by MediaPipe, so the tests run Face Mesh once on a real
photo and then move the lip landmarks themselves (and paint the mouth opening into the pixels),
which gives frames and landmarks that agree without any video file.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import pytest

from lipdub.face import geometry

INNER_LIP_POLYGON = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
CHIN = (149, 176, 148, 152, 377, 400, 378)
MOUTH_DARK = (45, 12, 20)


@pytest.fixture(scope="session")
def astronaut_face() -> tuple[np.ndarray, np.ndarray]:
    """(image (512, 512, 3) uint8 RGB, landmarks (468, 2) float32) from Face Mesh on the astronaut."""
    skimage_data = pytest.importorskip("skimage.data")
    mediapipe = pytest.importorskip("mediapipe")
    image = np.ascontiguousarray(skimage_data.astronaut())
    with mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesher:
        result = mesher.process(image)
    if not result.multi_face_landmarks:
        pytest.skip("Face Mesh found no face on the astronaut image")
    h, w = image.shape[:2]
    landmarks = np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark[:468]], dtype=np.float32)
    return image, landmarks


def animate_face(image: np.ndarray, landmarks: np.ndarray, opening: float, width: float | None = None, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """One frame: lower lip and chin moved so that ``mouth_opening == opening``, the mouth painted dark."""
    points = landmarks.astype(np.float64).copy()
    iod = float(geometry.inter_ocular_distance(points))
    drop = (opening - float(geometry.mouth_opening(points))) * iod
    points[list(LOWER_LIP), 1] += drop
    points[list(CHIN), 1] += 0.6 * drop
    if width is not None:
        spread = (width - float(geometry.mouth_width(points))) * iod / 2.0
        for index, sign in ((78, -1), (61, -1), (95, -1), (191, -1), (308, 1), (291, 1), (324, 1), (415, 1)):
            points[index, 0] += sign * spread
    frame = image.copy()
    cv2.fillPoly(frame, [np.round(points[list(INNER_LIP_POLYGON)] * 16).astype(np.int32)], MOUTH_DARK, lineType=cv2.LINE_AA, shift=4)
    dx, dy = shift
    if dx or dy:
        frame = cv2.warpAffine(frame, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]), (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REFLECT)
        points += (dx, dy)
    return frame, points.astype(np.float32)


@pytest.fixture
def talking_sequence(astronaut_face) -> Callable[..., tuple[list[np.ndarray], np.ndarray]]:
    """Factory: ``make(openings, widths=None, shifts=None) -> (frames, landmarks (T, 468, 2))``."""
    image, landmarks = astronaut_face
    # Paint the astronaut's own mouth opening over in lip colour, so painted openings are the only dark mouth.
    base = image.copy()
    outer = np.round(landmarks[[61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]] * 16).astype(np.int32)
    lip_mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(lip_mask, [outer], 1, shift=4)
    lip_colour = tuple(int(c) for c in np.median(image[lip_mask > 0], axis=0))
    cv2.fillPoly(base, [outer], lip_colour, lineType=cv2.LINE_AA, shift=4)

    def make(openings, widths=None, shifts=None):
        frames, marks = [], []
        for t, opening in enumerate(openings):
            width = None if widths is None else float(widths[t])
            shift = (0.0, 0.0) if shifts is None else tuple(shifts[t])
            frame, points = animate_face(base, landmarks, float(opening), width, shift)
            frames.append(frame)
            marks.append(points)
        return frames, np.stack(marks)

    return make
