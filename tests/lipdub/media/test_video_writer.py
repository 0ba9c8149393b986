from fractions import Fraction

import av
import numpy as np
import pytest
from _media_fixtures import assert_marker_top_left, color_frames

from lipdub.media.probe import probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter


def _write(path, frames, fps, **kw):
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps, preset="ultrafast", **kw) as writer:
        for f in frames:
            writer.write(f)
    return writer


@pytest.mark.parametrize(
    "fps", [Fraction(2213, 100), Fraction(30000, 1001), Fraction(1350, 61), Fraction(25)]
)
def test_exact_rate_and_frame_count_round_trip(tmp_path, fps):
    path = tmp_path / "v.mp4"
    writer = _write(path, color_frames(17, 64, 48), fps)
    assert writer.frames_written == 17
    info = probe_video(path)
    assert info.fps == fps
    assert info.n_frames == 17 == sum(1 for _ in iter_frames(path))
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.average_rate == fps
        assert stream.codec_context.pix_fmt == "yuv420p"
        pts = [p.pts for p in c.demux(stream) if p.size]
        # constant frame duration, exactly 1/fps
        ticks = sorted(pts)
        steps = {b - a for a, b in zip(ticks, ticks[1:])}
        assert len(steps) == 1 and steps.pop() * stream.time_base == 1 / fps


def test_float_rate_is_snapped(tmp_path):
    path = tmp_path / "v.mp4"
    _write(path, color_frames(5, 32, 32), 22.13)
    assert probe_video(path).fps == Fraction(2213, 100)


def test_rotation_90_round_trip(tmp_path):
    frames = color_frames(6, 64, 48)  # upright 64x48
    path = tmp_path / "rot.mp4"
    _write(path, frames, Fraction(30000, 1001), rotation=90)
    info = probe_video(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (48, 64)  # stored portrait
    assert info.display_size == (64, 48)
    back = list(iter_frames(path))
    assert len(back) == 6
    for got, want in zip(back, frames):
        assert got.shape == want.shape
        assert np.abs(got.astype(int) - want).mean() < 4
        assert_marker_top_left(got)
    # the display matrix is really in the file (a player would rotate it)
    with av.open(str(path)) as c:
        first = next(c.decode(video=0))
        assert first.rotation == -90  # PyAV: counter-clockwise


def test_odd_size_is_padded_bottom_right(tmp_path):
    frames = color_frames(4, 65, 47)
    path = tmp_path / "odd.mp4"
    writer = _write(path, frames, 25)
    assert writer.encoded_size == (66, 48)
    back = list(iter_frames(path))
    assert back[0].shape == (48, 66, 3)
    assert np.abs(back[0][:47, :65].astype(int) - frames[0]).mean() < 4


def test_odd_size_with_rotation_keeps_upright_coordinates(tmp_path):
    frames = color_frames(3, 47, 33)
    path = tmp_path / "odd_rot.mp4"
    _write(path, frames, 25, rotation=270)
    back = list(iter_frames(path))
    assert back[0].shape == (34, 48, 3)
    assert np.abs(back[0][:33, :47].astype(int) - frames[0]).mean() < 4


def test_rejects_wrong_frames(tmp_path):
    with VideoWriter(tmp_path / "v.mp4", 64, 48, 25) as writer:
        with pytest.raises(ValueError, match="shape"):
            writer.write(np.zeros((64, 48, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            writer.write(np.zeros((48, 64, 3), np.float32))
        writer.write(np.zeros((48, 64, 3), np.uint8))
    assert probe_video(tmp_path / "v.mp4").n_frames == 1


def test_exception_inside_block_removes_partial_file(tmp_path):
    path = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 64, 48, 25) as writer:
            writer.write(color_frames(1, 64, 48)[0])
            raise RuntimeError("render failed")
    assert not path.exists()


def test_accepts_non_contiguous_views(tmp_path):
    big = color_frames(2, 128, 96)
    path = tmp_path / "v.mp4"
    with VideoWriter(path, 64, 48, 25) as writer:
        for f in big:
            writer.write(f[::2, ::2])
    assert probe_video(path).n_frames == 2
