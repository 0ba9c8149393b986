import io
from fractions import Fraction

import numpy as np
import pytest

from lipdub.errors import InputError
from lipdub.face import geometry
from lipdub.face.analysis import FaceAnalysis, analyze_faces, analyze_frames, prefetched
from lipdub.demo.face import (
    make_no_face_video,
    make_talking_face_video,
    make_two_face_video,
    syllable_openings,
    talking_face_frames,
)

FPS = 25


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("faces") / "talk.mp4"
    openings = make_talking_face_video(path, seconds=2.0, fps=FPS, size=(320, 240), seed=1)
    return path, openings


@pytest.fixture(scope="module")
def talking_analysis(talking_video):
    return analyze_faces(talking_video[0])


def test_analysis_of_a_talking_face(talking_analysis, talking_video):
    a = talking_analysis
    n = len(talking_video[1])
    assert a.landmarks.shape == (n, 468, 2) and a.landmarks.dtype == np.float32
    assert a.valid.all() and not a.cut_before.any()
    assert (a.n_tracks, a.speaker_track, a.width, a.height, a.fps) == (1, 0, 320, 240, 25.0)
    assert (a.n_faces == 1).all()
    assert a.boxes.shape == (n, 4)
    centre = a.landmarks[:, geometry.NOSE_TIP]
    assert (a.boxes[:, 0] < centre[:, 0]).all() and (centre[:, 0] < a.boxes[:, 2]).all()
    measured = a.mouth_measurements()
    assert measured.shape == (n, 2)
    assert np.corrcoef(measured[:, 0], talking_video[1])[0, 1] > 0.7


def test_npz_round_trip(tmp_path, talking_analysis):
    path = tmp_path / "faces.npz"
    talking_analysis.to_npz(path)
    loaded = FaceAnalysis.from_npz(path)
    buffer = io.BytesIO()
    talking_analysis.to_npz(buffer)
    buffer.seek(0)
    from_file_object = FaceAnalysis.from_npz(buffer)
    for other in (loaded, from_file_object):
        for name in ("landmarks", "valid", "cut_before", "n_faces", "boxes"):
            np.testing.assert_array_equal(getattr(other, name), getattr(talking_analysis, name))
        for name in ("n_tracks", "speaker_track", "width", "height", "fps"):
            assert getattr(other, name) == getattr(talking_analysis, name)


def test_a_saved_analysis_maps_its_landmarks_and_old_compressed_files_still_load(tmp_path, talking_analysis):
    path = tmp_path / "faces.npz"
    talking_analysis.to_npz(path)
    mapped = FaceAnalysis.from_npz(path)
    # Read-only and file-backed: a render segment pages in only the frames it uses.
    assert not mapped.landmarks.flags.writeable
    assert isinstance(mapped.landmarks.base, np.memmap) or isinstance(mapped.landmarks, np.memmap)
    np.testing.assert_array_equal(mapped.landmarks, talking_analysis.landmarks)
    legacy = tmp_path / "legacy.npz"
    a = talking_analysis
    np.savez_compressed(legacy, version=np.int32(1), landmarks=a.landmarks, valid=a.valid, cut_before=a.cut_before,
                        n_tracks=np.int32(a.n_tracks), speaker_track=np.int32(a.speaker_track), width=np.int32(a.width),
                        height=np.int32(a.height), fps=np.float64(a.fps), n_faces=a.n_faces, boxes=a.boxes)
    loaded = FaceAnalysis.from_npz(legacy)
    assert loaded.landmarks.flags.writeable
    np.testing.assert_array_equal(loaded.landmarks, a.landmarks)
    np.testing.assert_array_equal(loaded.boxes, a.boxes)


def test_contract_fields_alone_build_an_analysis():
    landmarks = np.ones((3, 468, 2), np.float32)
    landmarks[1] = 0.0
    a = FaceAnalysis(landmarks, np.array([True, False, True]), np.zeros(3, bool), 1, 0, 64, 48, Fraction(25))
    assert a.n_faces.tolist() == [1, 0, 1]
    assert a.boxes[1].tolist() == [0, 0, 0, 0] and a.boxes[0].tolist() == [1, 1, 1, 1]
    assert isinstance(a.fps, float)


def test_no_face_raises_input_error(tmp_path):
    path = tmp_path / "none.mp4"
    make_no_face_video(path, seconds=0.6)
    with pytest.raises(InputError, match=f"no face found in {path}"):
        analyze_faces(path)


def test_frames_without_the_face_are_invalid_zeros(tmp_path):
    openings = syllable_openings(40, FPS, seed=2)
    frames = list(talking_face_frames(openings, FPS, size=(240, 240), seed=2))
    for frame in frames[15:22]:
        frame[:] = 80  # the face is gone (a blank insert), then comes back
    a = analyze_frames(frames, fps=FPS)
    assert a.valid.tolist() == [True] * 15 + [False] * 7 + [True] * 18
    assert (a.landmarks[15:22] == 0).all() and (a.boxes[15:22] == 0).all()
    assert a.n_faces[15:22].tolist() == [0] * 7
    assert a.cut_before[15] and a.cut_before[22]


def test_rotated_video_gives_upright_landmarks(tmp_path):
    path = tmp_path / "phone.mp4"
    make_talking_face_video(path, seconds=0.4, fps=FPS, size=(180, 320), rotation=90)
    a = analyze_faces(path)
    assert (a.width, a.height) == (180, 320)
    assert a.valid.all()
    eyes = a.landmarks[:, [geometry.RIGHT_EYE_OUTER, geometry.LEFT_EYE_OUTER]]
    assert (np.abs(eyes[:, 0, 1] - eyes[:, 1, 1]) < 0.2 * np.abs(eyes[:, 0, 0] - eyes[:, 1, 0])).all()
    assert (a.landmarks[:, geometry.CHIN, 1] > a.landmarks[:, geometry.NOSE_TIP, 1]).all()


def test_downscaled_analysis_reports_full_resolution(tmp_path, talking_video, talking_analysis):
    small = analyze_faces(talking_video[0], max_side=200)
    assert (small.width, small.height) == (320, 240)
    iod = geometry.inter_ocular_distance(talking_analysis.landmarks)
    error = np.linalg.norm(small.landmarks - talking_analysis.landmarks, axis=-1).mean(axis=1) / iod
    assert error.mean() < 0.03


def test_speaker_hint_and_loudness_on_two_faces(tmp_path):
    path = tmp_path / "two.mp4"
    openings = make_two_face_video(path, seconds=2.0, fps=FPS, talking="left", seed=3)
    loud_db = 20 * np.log10(0.02 + openings)
    by_audio = analyze_faces(path, source_loudness=loud_db)
    assert by_audio.n_tracks == 2 and (by_audio.n_faces == 2).all()
    assert by_audio.boxes[:, 2].max() < 320  # the talking face is the left one
    by_point = analyze_faces(path, speaker_point=(480, 160))
    assert by_point.boxes[:, 0].min() > 320
    assert by_point.speaker_track != by_audio.speaker_track


def test_prefetch_passes_errors_and_stops_early():
    def broken():
        yield np.zeros((2, 2, 3), np.uint8)
        raise InputError("bad frame")

    frames = prefetched(broken())
    assert next(frames).shape == (2, 2, 3)
    with pytest.raises(InputError, match="bad frame"):
        next(frames)
    endless = prefetched(np.zeros((2, 2, 3), np.uint8) for _ in iter(int, 1))
    assert next(endless) is not None
    endless.close()


@pytest.mark.media
def test_real_clips(shared_media):
    """Every real clip: one speaker found in (nearly) every frame, no cuts, smoothed and still lively."""
    for clip in sorted((shared_media / "clips").glob("real_*.mp4")):
        a = analyze_faces(clip)
        assert a.valid.mean() > 0.95, clip.name
        assert not a.cut_before.any(), clip.name
        opening = a.mouth_measurements()[a.valid, 0]
        assert opening.max() - opening.min() > 0.05, clip.name  # the mouth moves


def test_observer_sees_full_frames_from_the_same_decode(talking_video):
    path = talking_video[0]
    seen = []

    def observe(index, frame, faces):
        seen.append((index, frame.shape, [(track, landmarks.copy()) for track, landmarks in faces]))

    watched = analyze_faces(path, max_side=160, observer=observe)
    plain = analyze_faces(path, max_side=160)
    # Watching changes nothing in the analysis; the observer gets every frame at full size.
    assert np.array_equal(watched.landmarks, plain.landmarks) and np.array_equal(watched.valid, plain.valid)
    assert [index for index, _, _ in seen] == list(range(len(plain.valid)))
    assert all(shape == (240, 320, 3) for _, shape, _ in seen)
    # Landmarks come in full-resolution pixels (the analysis's own are smoothed: a few pixels apart).
    index, _, faces = seen[10]
    assert len(faces) == 1 and faces[0][0] == plain.speaker_track
    assert np.abs(faces[0][1] - plain.landmarks[index]).max() < 4.0
