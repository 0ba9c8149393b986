import cv2
import numpy as np

from lipdub.face.detect import FaceBox, box_iou, merge_detections, tile_windows

ASTRONAUT_FACE_CENTRE = (225.0, 130.0)


def test_finds_the_astronaut_face_with_eye_keypoints(detector, astronaut):
    boxes = detector.detect(astronaut)
    assert len(boxes) == 1
    box = boxes[0]
    assert box.score > 0.7
    assert box.contains(*ASTRONAUT_FACE_CENTRE)
    assert 70 < box.width < 140
    assert box.keypoints is not None and box.keypoints.shape == (6, 2)
    right_eye, left_eye = box.keypoints[0], box.keypoints[1]
    assert right_eye[0] < left_eye[0]  # subject's right eye is on the image left


def _small_face_scene(astronaut: np.ndarray, face_width: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The astronaut's head shrunk to ~face_width px, pasted into a plain 1280x720 frame."""
    head = astronaut[40:240, 130:320]
    scale = face_width / 100.0  # the face box is ~100 px wide in the photo
    small = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 110, np.uint8)
    y0, x0 = 420, 950
    frame[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    centre = (x0 + (ASTRONAUT_FACE_CENTRE[0] - 130) * scale, y0 + (ASTRONAUT_FACE_CENTRE[1] - 40) * scale)
    return frame, centre


def test_tiles_find_a_small_face_in_a_wide_frame(detector, astronaut):
    frame, centre = _small_face_scene(astronaut, 36)
    boxes = detector.detect(frame)
    assert any(b.contains(*centre) for b in boxes)
    assert len(boxes) == 1


def test_no_face_in_plain_or_textured_frames(detector):
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    rng = np.random.default_rng(0)
    assert detector.detect(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)) == []


def test_boxes_are_in_the_pixels_of_the_frame_passed_in(detector, astronaut):
    big = cv2.resize(astronaut, (1024, 1024))
    box = detector.detect(big, tiles=False)[0]
    assert box.contains(ASTRONAUT_FACE_CENTRE[0] * 2, ASTRONAUT_FACE_CENTRE[1] * 2)
    assert 140 < box.width < 280


def test_merge_keeps_one_box_per_face():
    a = FaceBox(0, 0, 100, 100, 0.9)
    b = FaceBox(5, 5, 105, 105, 0.8)  # same face, other model
    c = FaceBox(20, 20, 60, 60, 0.95)  # a tile that saw part of the face
    d = FaceBox(300, 0, 400, 100, 0.6)
    merged = merge_detections([a, b, c, d])
    assert [m.score for m in merged] == [0.95, 0.6] or [m.score for m in merged] == [0.9, 0.6]
    assert len(merged) == 2


def test_box_iou():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou[0], [1.0, 1 / 3, 0.0])


def test_tiles_cover_the_frame_with_overlap():
    windows = tile_windows(640, 360, 0.6, 0.25)
    covered = np.zeros((360, 640), bool)
    for x, y, side in windows:
        assert x >= 0 and y >= 0 and x + side <= 640 and y + side <= 360
        covered[y:y + side, x:x + side] = True
    assert covered.all()
    assert tile_windows(100, 100, 1.0, 0.25) == [(0, 0, 100)]


def test_face_box_helpers():
    box = FaceBox(10, 20, 30, 60, 0.5, np.array([[12.0, 25.0]] * 6, np.float32))
    assert box.centre == (20.0, 40.0)
    assert box.area == 800
    moved = box.scaled(2.0, 1.0, -1.0)
    assert (moved.x0, moved.y0, moved.x1, moved.y1) == (21.0, 39.0, 61.0, 119.0)
    np.testing.assert_allclose(moved.keypoints[0], [25.0, 49.0])
