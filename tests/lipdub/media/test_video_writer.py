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


def _decoded_source(tmp_path, pix_fmt="yuv420p", codec="libx264", frames=2):
    """Decoded pictures (as the render gets them) of a small smooth clip in ``pix_fmt``."""
    import av

    path = tmp_path / f"source_{pix_fmt}.mkv"
    y, x = np.mgrid[0:48, 0:64]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options={"qp": "0"} if codec == "libx264" else {})
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for i in range(frames):
            rgb = np.stack([60 + x + i, 80 + y, 120 + (x + y) // 2], axis=2).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def _planes(frame, deep=False):
    dtype = np.uint16 if deep else np.uint8
    return [np.ndarray((p.height, p.line_size // dtype().itemsize), dtype, buffer=p)[:, : p.width].copy() for p in frame.planes]


def test_write_over_keeps_the_source_samples_outside_the_box(tmp_path):
    """Lossless encode (qp 0): outside the box every Y, U, V sample is the source's; inside, the
    rendered pixels; the source picture itself is not modified (loops show it again)."""
    import av

    decoded = _decoded_source(tmp_path)
    before = _planes(decoded[0])
    rgb = decoded[0].to_ndarray(format="rgb24")
    edited = rgb.copy()
    edited[20:31, 10:33] = (250, 20, 20)
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 64, 48, 25, crf=0, preset="ultrafast") as writer:
        writer.write_over(decoded[0], edited, (10, 20, 33, 31))
        writer.write_over(decoded[0], rgb, None)
    assert all(np.array_equal(a, b) for a, b in zip(before, _planes(decoded[0])))
    with av.open(str(path)) as container:
        first, second = list(container.decode(video=0))
    out_y, source_y = _planes(first)[0].astype(int), before[0].astype(int)
    outside = np.ones_like(source_y, bool)
    outside[20:32, 10:34] = False  # the box grown to even edges
    assert np.array_equal(out_y[outside], source_y[outside])
    assert out_y[24, 20] != source_y[24, 20]  # the red patch is there
    assert all(np.array_equal(a, b) for a, b in zip(_planes(second), before))


def test_write_over_keeps_ten_bit_samples(tmp_path):
    """A 10-bit 4:2:2 source written back untouched keeps its 10-bit values (crf 0: within one
    code value), where the RGB path (`write`) brings it through 8 bits."""
    import av

    from lipdub.media.delivery import PictureFormat

    decoded = _decoded_source(tmp_path, "yuv422p10le")
    source = _planes(decoded[0], deep=True)
    picture = PictureFormat(pix_fmt="yuv422p10le")

    def errors(native: bool) -> list[np.ndarray]:
        path = tmp_path / f"out_{native}.mkv"
        with VideoWriter(path, 64, 48, 25, crf=0, preset="ultrafast", picture=picture) as writer:
            rgb = decoded[0].to_ndarray(format="rgb24")
            writer.write_over(decoded[0], rgb, None) if native else writer.write(rgb)
        with av.open(str(path)) as container:
            (frame,) = list(container.decode(video=0))
        assert frame.format.name == "yuv422p10le"
        return [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(_planes(frame, deep=True), source)]

    kept, through_rgb = errors(True), errors(False)
    assert max(e.max() for e in kept) <= 1
    assert np.mean([e.mean() for e in through_rgb]) > 2 * np.mean([e.mean() for e in kept])
