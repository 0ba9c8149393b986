import cv2
import numpy as np
import pytest

from lipdub.face import geometry
from lipdub.face.detect import FaceBox
from lipdub.face.mesh import FaceMesher, FaceRoi


def _error(landmarks: np.ndarray, expected: np.ndarray) -> float:
    """Mean landmark error in inter-ocular distances."""
    return float(np.linalg.norm(landmarks - expected, axis=1).mean() / geometry.inter_ocular_distance(expected))


def test_468_points_inside_the_face_box(detector, mesher, astronaut):
    box = detector.detect(astronaut)[0]
    landmarks = mesher.landmarks(astronaut, box)
    assert landmarks.shape == (468, 2) and landmarks.dtype == np.float32
    margin = 0.35 * box.width  # the mesh reaches the forehead and chin, a bit beyond the detector's box
    assert (landmarks[:, 0] > box.x0 - margin).all() and (landmarks[:, 0] < box.x1 + margin).all()
    assert (landmarks[:, 1] > box.y0 - margin).all() and (landmarks[:, 1] < box.y1 + margin).all()
    assert mesher.last_presence > 0.9
    # Anatomy: upper inner lip above the lower, subject's right eye on the image left, nose above chin.
    assert landmarks[geometry.UPPER_INNER_LIP, 1] < landmarks[geometry.LOWER_INNER_LIP, 1]
    assert landmarks[geometry.RIGHT_EYE_OUTER, 0] < landmarks[geometry.LEFT_EYE_OUTER, 0]
    assert landmarks[geometry.NOSE_TIP, 1] < landmarks[geometry.CHIN, 1]


def test_small_face_keeps_precise_landmarks(mesher, astronaut, astronaut_landmarks):
    """A face 40 px wide in a big frame: the crop is zoomed, so landmarks stay within a few % of IOD."""
    scale = 0.4
    frame = np.full((720, 1280, 3), 100, np.uint8)
    small = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame[300:300 + small.shape[0], 700:700 + small.shape[1]] = small
    expected = astronaut_landmarks * scale + np.array([700, 300], np.float32)
    box = FaceBox.from_landmarks(expected)
    landmarks = mesher.landmarks(frame, box)
    assert landmarks is not None
    assert _error(landmarks, expected) < 0.04


@pytest.mark.parametrize("angle", [-30, 20])
def test_rotated_face_is_measured_upright(mesher, astronaut, astronaut_landmarks, angle):
    matrix = cv2.getRotationMatrix2D((256, 256), angle, 1.0)
    rotated = cv2.warpAffine(astronaut, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT101)
    expected = geometry.apply_affine(matrix, astronaut_landmarks)
    landmarks = mesher.track(rotated, expected + 3.0)  # tracking from a slightly offset previous frame
    assert _error(landmarks, expected) < 0.02


def test_no_landmarks_where_there_is_no_face(mesher, astronaut):
    assert mesher.landmarks_in_roi(astronaut, FaceRoi(450, 450, 100)) is None
    assert mesher.last_presence < 0.5
    assert mesher.landmarks_in_roi(astronaut, FaceRoi(10, 10, 2)) is None


def test_static_backend_agrees(detector, astronaut, astronaut_landmarks):
    box = detector.detect(astronaut)[0]
    with FaceMesher(backend="static") as static:
        landmarks = static.landmarks(astronaut, box)
    assert _error(landmarks, astronaut_landmarks) < 0.02


def test_roi_geometry():
    roi = FaceRoi(cx=100.0, cy=50.0, size=64.0, rotation=np.pi / 2)
    to_frame = roi.crop_to_frame(192)
    centre = geometry.apply_affine(to_frame, np.array([[96.0, 96.0], [192.0, 96.0]]))
    np.testing.assert_allclose(centre[0], [100.0, 50.0], atol=1e-9)
    np.testing.assert_allclose(centre[1], [100.0, 82.0], atol=1e-9)  # crop +x is frame +y at 90 degrees
    landmarks = np.zeros((468, 2), np.float32)
    landmarks[:, 0] = np.linspace(0, 40, 468)
    landmarks[:, 1] = np.linspace(10, 30, 468)
    landmarks[geometry.RIGHT_EYE_OUTER] = (10, 20)
    landmarks[geometry.LEFT_EYE_OUTER] = (30, 20)
    from_landmarks = FaceRoi.from_landmarks(landmarks)
    assert from_landmarks.rotation == 0.0
    assert from_landmarks.size == pytest.approx(60.0)
    assert (from_landmarks.cx, from_landmarks.cy) == (20.0, 20.0)


def test_unknown_backend():
    with pytest.raises(ValueError):
        FaceMesher(backend="nope")
