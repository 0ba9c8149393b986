import numpy as np
import pytest

from lipdub.face import geometry
from lipdub.demo.face import syllable_openings, talking_face_frames, two_face_frames
from lipdub.face.track import (
    FaceTrack,
    FaceTracker,
    jitter,
    same_place,
    smooth_landmarks,
    smooth_run,
    smoothing_runs,
)
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


def _synthetic_sequence(base: np.ndarray, n: int, seed: int = 0, noise: float = 0.8):
    """A moving head whose mouth opens fast once (3 frames up, 3 down), plus landmark noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    pulse = np.zeros(n)
    pulse[30:37] = [0.33, 0.67, 1.0, 1.0, 0.67, 0.33, 0.0]
    lower = np.array([i for i in geometry.LIP_POINTS + geometry.JAW_POINTS
                      if base[i, 1] > base[geometry.UPPER_INNER_LIP, 1] + 1.0])
    clean = np.repeat(base[None].astype(np.float64), n, axis=0)
    clean[:, lower, 1] += 12.0 * pulse[:, None]
    # Head motion: slow drift and roll around the nose.
    angle = np.deg2rad(4.0) * np.sin(2 * np.pi * 0.5 * t)
    centre = base[geometry.NOSE_TIP].astype(np.float64)
    rel = clean - centre
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    moved = np.stack([cos * rel[..., 0] - sin * rel[..., 1], sin * rel[..., 0] + cos * rel[..., 1]], axis=-1)
    moved += centre + np.stack([15 * np.sin(2 * np.pi * 0.3 * t), 5 * t], axis=1)[:, None, :]
    noisy = moved + rng.normal(0.0, noise, moved.shape)
    return moved.astype(np.float32), noisy.astype(np.float32)


def test_smoothing_removes_jitter_but_keeps_a_fast_mouth_opening(astronaut_landmarks):
    clean, noisy = _synthetic_sequence(astronaut_landmarks, 75)
    smoothed = smooth_run(noisy, FPS)
    assert jitter(smoothed) < 0.35 * jitter(noisy)
    stable_error = lambda x: np.abs(x - clean)[:, geometry.STABLE_POINTS].mean()  # noqa: E731
    assert stable_error(smoothed) < 0.6 * stable_error(noisy)
    true_opening = geometry.mouth_opening(clean)
    opening = geometry.mouth_opening(smoothed)
    rise = true_opening[32] - true_opening[20]
    assert opening[32] - opening[20] > 0.85 * rise  # the peak is not flattened
    assert np.argmax(opening) in (32, 33)  # nor shifted
    assert np.abs(opening - true_opening).mean() <= np.abs(geometry.mouth_opening(noisy) - true_opening).mean()


def test_smoothing_never_crosses_cuts_or_gaps(astronaut_landmarks):
    _, noisy = _synthetic_sequence(astronaut_landmarks, 60, seed=1)
    noisy[30:] += 200.0  # a different framing after the cut
    valid = np.ones(60, bool)
    valid[45:48] = False
    noisy[45:48] = 0.0
    cut_before = np.zeros(60, bool)
    cut_before[30] = True
    assert smoothing_runs(valid, cut_before) == [(0, 30), (30, 45), (48, 60)]
    smoothed = smooth_landmarks(noisy, valid, cut_before, FPS)
    np.testing.assert_allclose(smoothed[:30], smooth_run(noisy[:30], FPS), atol=1e-3)
    np.testing.assert_allclose(smoothed[30:45], smooth_run(noisy[30:45], FPS), atol=1e-3)
    assert (smoothed[45:48] == 0).all()
    np.testing.assert_allclose(smoothed[48:], smooth_run(noisy[48:], FPS), atol=1e-3)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_short_runs_are_safe(astronaut_landmarks, n):
    _, noisy = _synthetic_sequence(astronaut_landmarks, 40)
    out = smooth_run(noisy[:n], FPS)
    assert out.shape == (n, 468, 2) and np.isfinite(out).all()


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
