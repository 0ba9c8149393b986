from fractions import Fraction

import av
import numpy as np
import pytest
from _media_fixtures import assert_marker_top_left, color_frames, tone, write_video

from lipdub.errors import InputError
from lipdub.media.mux import mux_segments
from lipdub.media.probe import probe_audio, probe_video
from lipdub.media.video_reader import iter_frames
from lipdub.media.video_writer import VideoWriter

AAC_FRAME = 1024


def _segments(tmp_path, counts, fps, rotation=0, preset="veryfast"):
    """Segments as the renderer writes them (veryfast: B-frames, so dts < pts)."""
    paths = []
    for i, n in enumerate(counts):
        path = tmp_path / f"seg{i}.mp4"
        with VideoWriter(path, 64, 48, fps, rotation=rotation, preset=preset) as w:
            for f in color_frames(n, 64, 48):
                w.write(f)
        paths.append(str(path))
    return paths


def _video_packets(path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [(p.pts, p.dts) for p in c.demux(stream) if p.size]


@pytest.mark.parametrize(
    ("fps", "audio_s"),
    [(Fraction(2213, 100), 0.3), (Fraction(30000, 1001), 5.0), (Fraction(25), 1.24)],
)
def test_concatenates_segments_and_fits_audio(tmp_path, fps, audio_s):
    counts = [5, 17, 9]
    segs = _segments(tmp_path, counts, fps)
    out = tmp_path / "out.mp4"
    mux_segments(segs, tone(audio_s, 16000)[0], 16000, str(out))

    info = probe_video(out)
    assert info.n_frames == sum(counts)
    assert sum(1 for _ in iter_frames(out)) == sum(counts)
    assert info.fps == fps
    video_s = sum(counts) / fps
    assert info.duration_s == pytest.approx(float(video_s), abs=1e-3)

    packets = _video_packets(out)
    dts = [d for _, d in packets]
    assert all(b > a for a, b in zip(dts, dts[1:])), "dts must increase strictly"
    pts = sorted(p for p, _ in packets)
    assert len(set(pts)) == len(pts)
    steps = {b - a for a, b in zip(pts, pts[1:])}
    assert len(steps) == 1, "presentation times must be evenly spaced across segment joins"

    audio = probe_audio(out)
    assert audio.codec == "aac" and audio.sample_rate == 16000
    assert abs(audio.duration_s - float(video_s)) <= AAC_FRAME / 16000


def test_frames_come_out_in_segment_order(tmp_path):
    segs = []
    for i, shade in enumerate((30, 130, 230)):
        path = tmp_path / f"s{i}.mp4"
        with VideoWriter(path, 64, 48, 25, preset="veryfast") as w:
            for _ in range(4):
                w.write(np.full((48, 64, 3), shade, np.uint8))
        segs.append(str(path))
    out = tmp_path / "out.mp4"
    mux_segments(segs, np.zeros(100, np.float32), 16000, str(out))
    means = [f.mean() for f in iter_frames(out)]
    assert np.allclose(means, np.repeat([30, 130, 230], 4), atol=3)


def test_keeps_rotation(tmp_path):
    segs = _segments(tmp_path, [3, 4], 25, rotation=90)
    out = tmp_path / "out.mp4"
    mux_segments(segs, tone(0.2, 16000)[0], 16000, str(out))
    info = probe_video(out)
    assert info.rotation == 90 and info.display_size == (64, 48) and info.n_frames == 7
    assert_marker_top_left(next(iter_frames(out)))


def test_audio_is_padded_with_silence(tmp_path):
    segs = _segments(tmp_path, [25, 25], 25)  # 2 s
    out = tmp_path / "out.mp4"
    mux_segments(segs, tone(0.5, 16000, amp=0.5)[0], 16000, str(out))
    from lipdub.media.audio_io import load_audio

    samples = load_audio(out)
    assert samples.size / 16000 == pytest.approx(2.0, abs=AAC_FRAME / 16000)
    assert np.abs(samples[1000:7000]).max() > 0.3
    assert np.abs(samples[12000:]).max() < 0.01


def test_unusual_sample_rate_is_resampled(tmp_path):
    segs = _segments(tmp_path, [10], 25)
    out = tmp_path / "out.mp4"
    mux_segments(segs, tone(1.0, 10000)[0], 10000, str(out))
    audio = probe_audio(out)
    assert audio.sample_rate == 48000
    assert audio.duration_s == pytest.approx(0.4, abs=AAC_FRAME / 48000)


def test_rejects_bad_segments(tmp_path):
    with pytest.raises(ValueError):
        mux_segments([], np.zeros(10, np.float32), 16000, str(tmp_path / "o.mp4"))
    with pytest.raises(InputError, match="does not exist"):
        mux_segments([str(tmp_path / "nope.mp4")], np.zeros(10, np.float32), 16000,
                     str(tmp_path / "o.mp4"))
    a = write_video(tmp_path / "a.mp4", 3, width=64, height=48)
    b = write_video(tmp_path / "b.mp4", 3, width=32, height=32)
    with pytest.raises(ValueError, match="differs"):
        mux_segments([str(a), str(b)], np.zeros(10, np.float32), 16000, str(tmp_path / "o.mp4"))


@pytest.mark.media
def test_real_clip_rate_survives_render_and_mux(shared_media, tmp_path):
    src = shared_media / "clips" / "real_01.mp4"
    info = probe_video(src)
    w, h = info.display_size
    segs = []
    frames = iter_frames(src)
    for i, n in enumerate((50, 85)):
        path = tmp_path / f"seg{i}.mp4"
        with VideoWriter(path, w, h, info.fps, rotation=info.rotation, preset="ultrafast") as writer:
            for _ in range(n):
                writer.write(next(frames))
        segs.append(str(path))
    out = tmp_path / "out.mp4"
    mux_segments(segs, tone(2.0, 16000)[0], 16000, str(out))
    got = probe_video(out)
    assert got.fps == Fraction(1350, 61) and got.n_frames == 135
    assert got.duration_s == pytest.approx(info.duration_s, abs=0.05)


def test_failed_mux_leaves_no_output(tmp_path):
    good = write_video(tmp_path / "a.mp4", 3)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="junk.mp4"):
        mux_segments([str(good), str(junk)], np.zeros(100, np.float32), 16000, str(out))
    assert not out.exists()


def test_bad_audio_is_rejected_before_touching_the_output(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    seg = write_video(tmp_path / "a.mp4", 3)
    with pytest.raises(ValueError, match="mono"):
        mux_segments([str(seg)], np.zeros((2, 3, 4), np.float32), 16000, str(out))
    assert out.read_bytes() == b"previous result"
