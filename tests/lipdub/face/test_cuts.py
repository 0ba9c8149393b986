from fractions import Fraction
from itertools import chain

import numpy as np

from lipdub.face.cuts import SMALL_SIZE, ShotCutDetector, shot_cut_flags, small_gray
from lipdub.demo.face import no_face_frames, syllable_openings, talking_face_frames, two_face_frames
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter

FPS = 25


def _shot(kind: str, n: int, seed: int) -> list[np.ndarray]:
    openings = syllable_openings(n, FPS, seed)
    if kind == "talking":
        return list(talking_face_frames(openings, FPS, size=(320, 240), seed=seed))
    if kind == "two":
        return list(two_face_frames(openings, FPS, size=(320, 240), seed=seed))
    return list(no_face_frames(n, FPS, size=(320, 240), seed=seed))


def test_cuts_found_in_a_spliced_video(tmp_path):
    shots = [_shot("talking", 30, 0), _shot("two", 20, 1), _shot("empty", 20, 2), _shot("talking", 25, 3)]
    path = tmp_path / "spliced.mp4"
    with VideoWriter(path, 320, 240, Fraction(FPS)) as writer:
        for frame in chain.from_iterable(shots):
            writer.write(frame)
    flags = shot_cut_flags(small_gray(frame) for frame in iter_frames(path))
    assert np.flatnonzero(flags).tolist() == [30, 50, 70]


def test_head_motion_and_talking_are_not_cuts():
    frames = _shot("talking", 75, 4)
    assert not shot_cut_flags(frames).any()


def test_first_frame_is_never_a_cut_and_history_resets():
    detector = ShotCutDetector()
    dark = np.zeros((SMALL_SIZE[1], SMALL_SIZE[0]), np.float32)
    bright = np.full_like(dark, 200.0)
    assert detector.update(bright) is False
    assert [detector.update(x) for x in (bright, bright, dark, dark, bright)] == [False, False, True, False, True]


def test_small_gray_shape():
    gray = small_gray(np.zeros((720, 1280, 3), np.uint8))
    assert gray.shape == (36, 64) and gray.dtype == np.float32
    assert small_gray(np.zeros((20, 30, 3), np.uint8)).shape == (36, 64)
