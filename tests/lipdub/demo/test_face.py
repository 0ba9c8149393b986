import numpy as np
import pytest

from lipdub.face import geometry
from lipdub.face.analysis import analyze_faces
from lipdub.demo.face import (
    make_no_face_video,
    make_talking_face_video,
    make_two_face_video,
    syllable_openings,
    talking_face_frames,
)
from lipdub.media.probe import probe_video


def test_talking_face_mouth_follows_the_openings(tmp_path):
    path = tmp_path / "talk.mp4"
    openings = make_talking_face_video(path, seconds=3.0, fps=25, seed=2)
    info = probe_video(path)
    assert (info.n_frames, info.display_size, info.fps) == (75, (320, 320), 25)
    assert openings.shape == (75,) and openings.dtype == np.float32
    analysis = analyze_faces(path)
    assert analysis.valid.all()
    measured = geometry.mouth_opening(analysis.landmarks)
    assert np.corrcoef(measured, openings)[0, 1] > 0.7
    # Wide open measures clearly more than closed (in inter-ocular units).
    assert measured[openings > 0.7].mean() - measured[openings == 0].mean() > 0.08


def test_given_openings_are_used_and_padded(tmp_path):
    openings = make_talking_face_video(tmp_path / "a.mp4", seconds=1.0, fps=10, openings=[0.0, 1.0, 2.0],
                                       size=(200, 160))
    assert openings.tolist() == [0.0, 1.0, 1.0] + [0.0] * 7
    assert probe_video(tmp_path / "a.mp4").display_size == (200, 160)


def test_syllable_openings_look_like_speech():
    openings = syllable_openings(250, 25, seed=0)
    assert openings.min() == 0.0 and 0.6 < openings.max() <= 1.0
    assert openings[0] == 0.0
    onsets = np.flatnonzero((openings[1:] > 0.3) & (openings[:-1] <= 0.3))
    assert 15 <= len(onsets) <= 45  # roughly 2-4 syllables a second over 10 s
    assert (openings == 0).mean() > 0.1  # pauses
    np.testing.assert_array_equal(openings, syllable_openings(250, 25, seed=0))


def test_frames_are_deterministic_and_move_the_head():
    openings = np.zeros(20, np.float32)
    first = list(talking_face_frames(openings, 25, seed=1))
    again = list(talking_face_frames(openings, 25, seed=1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert np.abs(first[0].astype(int) - first[-1].astype(int)).mean() > 1.0


def test_two_face_and_no_face_videos(tmp_path, detector):
    make_two_face_video(tmp_path / "two.mp4", seconds=0.2, fps=25, talking="right")
    make_no_face_video(tmp_path / "none.mp4", seconds=0.2, fps=25)
    from lipdub.media.video_reader import iter_frames

    two = next(iter(iter_frames(tmp_path / "two.mp4")))
    boxes = sorted(detector.detect(two), key=lambda b: b.x0)
    assert len(boxes) == 2 and boxes[0].x1 < 320 < boxes[1].x0
    none = next(iter(iter_frames(tmp_path / "none.mp4")))
    assert detector.detect(none) == []
    with pytest.raises(ValueError):
        make_two_face_video(tmp_path / "bad.mp4", seconds=0.1, talking="middle")
