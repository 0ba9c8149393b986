from itertools import islice

import cv2
import numpy as np
import pytest

from lipdub.audio.features import frames_at, loudness
from lipdub.errors import InputError
from lipdub.face import geometry
from lipdub.demo.face import syllable_openings, two_face_frames
from lipdub.face.speaker import MIN_Z, pick_speaker, speaker_scores, track_at_point
from lipdub.face.track import FaceTrack, FaceTracker
from lipdub.media.audio_io import load_audio
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames

FPS = 25


def _track(track_id: int, base: np.ndarray, openings: np.ndarray, offset=(0.0, 0.0), scale=1.0,
           frames: np.ndarray | None = None, seed: int = 0) -> FaceTrack:
    """A synthetic track: ``base`` landmarks with the lower lip moved by ``openings``, plus noise."""
    rng = np.random.default_rng(seed)
    frames = np.arange(len(openings)) if frames is None else frames
    landmarks = np.repeat(base[None], len(frames), axis=0).astype(np.float64)
    landmarks[:, geometry.LOWER_INNER_LIP, 1] += 20.0 * openings[frames]
    landmarks = landmarks * scale + np.asarray(offset) + rng.normal(0, 0.3, landmarks.shape)
    return FaceTrack(track_id, frames, landmarks.astype(np.float32))


@pytest.fixture(scope="module")
def speech():
    """Loudness in dB per frame that follows syllable openings (as speech does), and the openings."""
    openings = syllable_openings(200, FPS, seed=3).astype(np.float64)
    loud_db = 20 * np.log10(0.01 + openings) + np.random.default_rng(1).normal(0, 1.0, len(openings))
    return openings, loud_db


def test_speaker_is_the_face_that_follows_the_audio(astronaut_landmarks, speech):
    openings, loud_db = speech
    silent = np.zeros_like(openings)
    tracks = [_track(0, astronaut_landmarks, silent, scale=1.5, seed=1),  # bigger, but quiet
              _track(1, astronaut_landmarks, openings, offset=(400, 0), seed=2)]
    scores = speaker_scores(tracks, loud_db, FPS)
    assert scores[1] > 10 and abs(scores[0]) < 3
    assert pick_speaker(tracks, loud_db, fps=FPS) == 1


def test_a_short_lucky_track_does_not_win(astronaut_landmarks, speech):
    openings, loud_db = speech
    main = _track(0, astronaut_landmarks, openings * 0.5 + np.random.default_rng(4).uniform(0, 0.5, len(openings)))
    short = _track(1, astronaut_landmarks, openings, offset=(400, 0), frames=np.arange(100, 112))
    assert pick_speaker([main, short], loud_db, fps=FPS) == 0


def test_without_audio_evidence_the_most_present_face_wins(astronaut_landmarks, speech):
    openings, _ = speech
    small = _track(0, astronaut_landmarks, openings, offset=(400, 0), scale=0.5)
    big = _track(1, astronaut_landmarks, np.zeros_like(openings))
    assert pick_speaker([small, big], None) == 1
    flat = np.full(len(openings), -30.0)
    assert pick_speaker([small, big], flat, fps=FPS) == 1


def test_speaker_point_picks_the_face_containing_it(astronaut_landmarks, speech):
    openings, loud_db = speech
    left = _track(0, astronaut_landmarks, openings, frames=np.arange(50, 200))
    right = _track(1, astronaut_landmarks, np.zeros_like(openings), offset=(400, 0))
    inside_left = tuple(astronaut_landmarks[geometry.NOSE_TIP])
    inside_right = (inside_left[0] + 400, inside_left[1])
    assert pick_speaker([left, right], loud_db, speaker_point=inside_right, fps=FPS) == 1
    assert pick_speaker([left, right], None, speaker_point=inside_left) == 0
    assert track_at_point([left, right], (60, *inside_left)) == 0
    with pytest.raises(InputError, match="not inside any detected face in frame 10"):
        track_at_point([left, right], (10, *inside_left))  # the left face is not there yet
    with pytest.raises(InputError, match="not inside any detected face"):
        pick_speaker([left, right], None, speaker_point=(5.0, 5.0))


@pytest.mark.parametrize("talking", ["left", "right"])
def test_speaker_pick_on_the_two_face_fixture(detector, mesher, talking):
    openings = syllable_openings(75, FPS, seed=5)
    tracker = FaceTracker(detector, mesher)
    for frame in two_face_frames(openings, FPS, size=(640, 320), seed=5, talking=talking):
        tracker.update(frame)
    tracks = tracker.tracks()
    assert len(tracks) == 2
    loud_db = 20 * np.log10(0.02 + openings)
    chosen = next(t for t in tracks if t.track_id == pick_speaker(tracks, loud_db, fps=FPS))
    centre_x = float(np.median(chosen.boxes[:, [0, 2]].mean(axis=1)))
    assert (centre_x < 320) == (talking == "left")


GEN_FRAMES = 150  # 6 s of each clip keeps the test fast; the speaker is clear well before that


@pytest.mark.media
def test_gen_clips_pick_the_main_speaker_not_a_still_inset(shared_media, detector, mesher):
    """On every gen_* clip (which has a small still portrait in the lower-left corner), plus a still
    copy of the speaker's own face pasted top-left as a clearly detectable non-speaking face, the
    speaker is the main face, chosen by its mouth following the clip's own speech."""
    clips = sorted((shared_media / "clips").glob("gen_*.mp4"))
    assert clips
    for clip in clips:
        info = probe_video(clip)
        loud_db = frames_at(loudness(load_audio(clip)), GEN_FRAMES, float(info.fps))
        tracker = FaceTracker(detector, mesher, detect_every=10, tiles_every=50)
        still = None
        for frame in islice(iter_frames(clip), GEN_FRAMES):
            if still is None:
                still = cv2.resize(frame, (128, 128), interpolation=cv2.INTER_AREA)
            frame = frame.copy()
            frame[:128, :128] = still
            tracker.update(frame)
        tracks = tracker.tracks()
        assert len(tracks) >= 2, clip.name  # the pasted still face is found
        speaker = pick_speaker(tracks, loud_db, fps=float(info.fps))
        chosen = next(t for t in tracks if t.track_id == speaker)
        width, height = info.display_size
        cx = float(np.median(chosen.boxes[:, [0, 2]].mean(axis=1)))
        cy = float(np.median(chosen.boxes[:, [1, 3]].mean(axis=1)))
        assert 0.3 * width < cx < 0.7 * width and cy < 0.7 * height, clip.name
        assert len(chosen) >= 0.95 * GEN_FRAMES, clip.name
        assert speaker_scores(tracks, loud_db, float(info.fps))[speaker] >= MIN_Z, clip.name
