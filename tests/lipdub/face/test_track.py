import numpy as np
import pytest

from lipdub.face import geometry
from lipdub.demo.face import syllable_openings, talking_face_frames, two_face_frames
from lipdub.face.track import FaceTrack, FaceTracker, same_place
from lipdub.face.detect import FaceBox

FPS = 25


def _run(tracker: FaceTracker, frames, cuts=()) -> list[list[tuple[int, np.ndarray]]]:
    return [tracker.update(frame, cut_before=i in cuts) for i, frame in enumerate(frames)]


def test_two_faces_keep_their_ids(detector, mesher):
    n = 50
    frames = list(two_face_frames(syllable_openings(n, FPS, 0), FPS, size=(640, 320)))
    tracker = FaceTracker(detector, mesher, detect_every=10, tiles_every=25)
    per_frame = _run(tracker, frames)
    tracks = tracker.tracks()
    assert len(tracks) == 2
    assert all(len(found) == 2 for found in per_frame)
    for track in tracks:
        assert track.frames.tolist() == list(range(n))
        centres_x = (track.boxes[:, 0] + track.boxes[:, 2]) / 2
        assert (centres_x < 320).all() or (centres_x > 320).all()  # never jumps to the other face
    # The detector only ran on the schedule; in between, the mesh followed the faces alone.
    assert tracker.stats["detect"] == 5
    assert tracker.stats["mesh"] == 2 * n + 2  # one run per face and frame, plus a refinement at the start


def test_face_hidden_for_a_while_comes_back_with_its_id(detector, mesher):
    n = 40
    frames = list(two_face_frames(np.zeros(n, np.float32), FPS, size=(640, 320)))
    for frame in frames[10:20]:
        frame[:, :320] = 90  # the left face is covered
    tracker = FaceTracker(detector, mesher, detect_every=5, tiles_every=100)
    per_frame = _run(tracker, frames)
    tracks = tracker.tracks()
    assert len(tracks) == 2
    left = min(tracks, key=lambda t: t.boxes[0, 0])
    assert set(left.frames.tolist()) == set(range(10)) | set(range(20, n))
    assert [len(found) for found in per_frame[10:20]] == [1] * 10


def test_same_framing_across_a_cut_continues_the_track(detector, mesher):
    frames = list(talking_face_frames(syllable_openings(20, FPS, 1), FPS, size=(320, 320)))
    tracker = FaceTracker(detector, mesher)
    _run(tracker, frames, cuts={10})
    assert [t.frames.tolist() for t in tracker.tracks()] == [list(range(20))]
    assert tracker.stats["detect_tiles"] == 2  # first frame and the cut


def test_same_place():
    a = FaceBox(0, 0, 100, 100, 1.0)
    assert same_place(a, FaceBox(20, 10, 120, 110, 1.0))
    assert not same_place(a, FaceBox(200, 0, 300, 100, 1.0))
    assert not same_place(a, FaceBox(0, 0, 40, 40, 1.0))


def test_track_dense_and_boxes():
    landmarks = np.random.default_rng(0).uniform(10, 50, (3, 468, 2)).astype(np.float32)
    track = FaceTrack(7, np.array([1, 2, 5]), landmarks)
    dense, valid = track.dense(6)
    assert valid.tolist() == [False, True, True, False, False, True]
    np.testing.assert_array_equal(dense[5], landmarks[2])
    assert (dense[0] == 0).all()
    assert track.boxes.shape == (3, 4)
    scaled = track.scaled(2.0, 3.0)
    np.testing.assert_allclose(scaled.landmarks[0, 0], landmarks[0, 0] * [2.0, 3.0], rtol=1e-6)


# ----------------------------------------------------------------------------- smoothing


def test_small_face_in_a_wide_frame_is_tracked_and_its_mouth_measured(detector, mesher):
    """A face ~50 px wide (30 px between the eyes) in a 960x540 frame: found by the zoomed tiles."""
    openings = np.zeros(30, np.float32)
    openings[10:20] = np.sin(np.linspace(0, np.pi, 10)) ** 2
    tracker = FaceTracker(detector, mesher)
    for small in talking_face_frames(openings, FPS, size=(120, 120), seed=3, head_motion=0.5):
        frame = np.full((540, 960, 3), 70, np.uint8)
        frame[380:500, 100:220] = small
        tracker.update(frame)
    (track,) = tracker.tracks()
    assert track.frames.tolist() == list(range(30))
    opening = track.mouth_opening()
    assert opening[13:17].mean() > opening[:8].mean() + 0.05
