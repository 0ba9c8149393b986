from fractions import Fraction

import numpy as np
import pytest
from _media_fixtures import (
    assert_marker_top_left,
    color_frames,
    tone,
    write_audio,
    write_vfr_video,
    write_video,
)

from lipdub.errors import InputError
from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frame_pairs, iter_frames, scaled_size


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_frames_are_upright_for_every_rotation(tmp_path, rotation):
    path = write_video(tmp_path / "v.mp4", 6, width=64, height=48, rotation=rotation)
    frames = list(iter_frames(path))
    assert len(frames) == 6
    for frame in frames:
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert frame.flags.c_contiguous
        assert_marker_top_left(frame)


def test_frames_match_what_was_written(tmp_path):
    path = write_video(tmp_path / "v.mp4", 8)
    for got, want in zip(iter_frames(path), color_frames(8, 64, 48), strict=True):
        assert np.abs(got.astype(int) - want).mean() < 4


def test_max_side_downscales_keeping_aspect(tmp_path):
    path = write_video(tmp_path / "v.mp4", 3, width=128, height=96, rotation=90)
    frames = list(iter_frames(path, max_side=64))
    assert [f.shape for f in frames] == [(48, 64, 3)] * 3
    assert_marker_top_left(frames[0])
    # never upscales
    assert next(iter_frames(path, max_side=1000)).shape == (96, 128, 3)


def test_scaled_size():
    assert scaled_size(700, 500, 350) == (350, 250)
    assert scaled_size(10, 1000, 100) == (1, 100)
    assert scaled_size(10, 20, None) == (10, 20)


def test_variable_frame_rate_yields_every_decoded_frame(tmp_path):
    pts = [0, 33, 66, 300, 310, 320, 700, 701, 1000]
    path = write_vfr_video(tmp_path / "vfr.mp4", pts)
    assert len(list(iter_frames(path))) == len(pts) == probe_video(path).n_frames


def test_reader_is_lazy(tmp_path):
    path = write_video(tmp_path / "v.mp4", 30)
    it = iter_frames(path)
    assert next(it).shape == (48, 64, 3)
    it.close()  # must release the container without decoding the rest


def test_errors_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        next(iter_frames(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InputError):
        next(iter_frames(junk))
    wav = write_audio(tmp_path / "a.wav", tone(0.1, 16000), 16000, "pcm_s16le")
    with pytest.raises(InputError, match="no video stream"):
        next(iter_frames(wav))


def test_corrupted_payload_never_crashes(tmp_path):
    path = write_video(tmp_path / "v.mp4", 25, width=128, height=96)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    start, stop = 64, len(data) * 2 // 3  # damage the samples, keep the index
    data[start:stop] = rng.bytes(stop - start)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    try:
        frames = list(iter_frames(bad))
    except InputError as exc:
        assert str(bad) in str(exc)
    else:
        assert all(f.shape == (96, 128, 3) for f in frames)


@pytest.mark.media
def test_real_clip_frame_count(shared_media):
    path = shared_media / "clips" / "real_01.mp4"
    info = probe_video(path)
    n = sum(1 for _ in iter_frames(path, max_side=256))
    assert n == info.n_frames == 135
    assert info.fps == Fraction(1350, 61)


@pytest.mark.parametrize("use_cv2", [True, False])
def test_rotation_helpers_match_numpy(monkeypatch, use_cv2):
    from lipdub.media import _av

    if not use_cv2:
        monkeypatch.setattr(_av, "_CV2", [None])
    image = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    for rotation in (0, 90, 180, 270):
        upright = _av.rotate_to_display(image[:, ::1], rotation)
        assert np.array_equal(upright, np.rot90(image, -(rotation // 90)))
        assert upright.flags.c_contiguous
        assert np.array_equal(_av.rotate_to_storage(upright, rotation), image)
    view = image[::2, ::2]
    assert np.array_equal(_av.rotate_to_display(view, 90), np.rot90(view, -1))


@pytest.mark.parametrize("rotation", [0, 90])
def test_frame_pairs_are_the_small_and_full_frames_of_one_decode(tmp_path, rotation):
    path = write_video(tmp_path / "v.mp4", 4, width=128, height=96, rotation=rotation)
    pairs = list(iter_frame_pairs(path, max_side=64))
    small, full = list(iter_frames(path, max_side=64)), list(iter_frames(path))
    assert len(pairs) == len(small) == len(full) == 4
    for pair, s, f in zip(pairs, small, full):
        assert np.array_equal(pair.small, s) and np.array_equal(pair.full, f)
    assert_marker_top_left(pairs[0].full)
    # No downscale needed: one array serves as both.
    same = next(iter_frame_pairs(path, max_side=1000))
    assert same.small is same.full
