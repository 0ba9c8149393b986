import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _media_fixtures import assert_marker_top_left, color_frames, tone, write_audio, write_video

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


# --- streamed dub audio: chunks instead of one array --------------------------------------------


def _audio_packets(path):
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        return [(p.pts, bytes(p)) for p in c.demux(stream) if p.size]


@pytest.mark.parametrize(
    ("rate", "audio_s"),
    [(16000, 0.7), (16000, 3.0), (48000, 1.6), (10000, 1.0)],  # padded, cut, exact-ish, resampled
)
def test_chunks_mux_exactly_like_the_whole_array(tmp_path, rate, audio_s):
    segs = _segments(tmp_path, [20, 20], 25)  # 1.6 s
    samples = tone(audio_s, rate, amp=0.5)[0]
    from_array, from_chunks = tmp_path / "array.mp4", tmp_path / "chunks.mp4"
    mux_segments(segs, samples, rate, str(from_array))
    # Odd chunk sizes that straddle the encoder's and the video's boundaries.
    mux_segments(segs, (samples[i:i + 3001] for i in range(0, samples.size, 3001)), rate, str(from_chunks))
    assert probe_audio(from_chunks).duration_s == probe_audio(from_array).duration_s
    assert _audio_packets(from_chunks) == _audio_packets(from_array)
    assert _video_packets(from_chunks) == _video_packets(from_array)


def test_file_chunks_mux_like_the_loaded_file(tmp_path):
    from lipdub.media.audio_io import iter_audio_chunks, load_audio

    dub = write_audio(tmp_path / "dub.m4a", tone(2.5, 44100, 2, amp=0.5), 44100, "aac")
    segs = _segments(tmp_path, [30, 20], 25)  # 2 s: the dub's last 0.5 s is cut
    loaded, streamed = tmp_path / "loaded.mp4", tmp_path / "streamed.mp4"
    mux_segments(segs, load_audio(dub, sample_rate=48000), 48000, str(loaded))
    mux_segments(segs, iter_audio_chunks(dub, 48000, chunk_seconds=0.3), 48000, str(streamed))
    audio = probe_audio(streamed)
    assert audio.sample_rate == 48000
    assert audio.duration_s == probe_audio(loaded).duration_s == pytest.approx(2.0, abs=AAC_FRAME / 48000)
    np.testing.assert_array_equal(load_audio(streamed, 48000), load_audio(loaded, 48000))


def test_chunks_are_pulled_as_the_video_needs_them(tmp_path):
    segs = _segments(tmp_path, [25], 25)  # 1 s
    pulled, closed = [], []

    def chunks():
        try:
            for i in range(100):  # 50 s of dub for 1 s of video
                pulled.append(i)
                yield tone(0.5, 16000)[0]
        finally:
            closed.append(True)

    mux_segments(segs, chunks(), 16000, str(tmp_path / "out.mp4"))
    assert len(pulled) <= 3, "audio past the video's end must not be read"
    assert closed == [True], "the source must be closed (its file released) when the mux is done"
    assert probe_audio(tmp_path / "out.mp4").duration_s == pytest.approx(1.0, abs=AAC_FRAME / 16000)


def test_bad_dub_stream_fails_before_touching_the_output(tmp_path):
    from lipdub.media.audio_io import iter_audio_chunks

    seg = write_video(tmp_path / "a.mp4", 3)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(InputError, match="does not exist"):
        mux_segments([str(seg)], iter_audio_chunks(tmp_path / "missing.wav", 16000), 16000, str(out))
    with pytest.raises(ValueError, match="mono"):
        mux_segments([str(seg)], iter([np.zeros((2, 3, 4), np.float32)]), 16000, str(out))
    assert out.read_bytes() == b"previous result"


def test_empty_chunk_source_is_all_silence(tmp_path):
    segs = _segments(tmp_path, [25], 25)
    out = tmp_path / "out.mp4"
    mux_segments(segs, iter([np.zeros(0, np.float32)]), 16000, str(out))
    assert probe_audio(out).duration_s == pytest.approx(1.0, abs=AAC_FRAME / 16000)


# The child measures its own peak RSS (VmHWM, reset after imports) while it muxes a streamed dub.
_MEASURE_STREAMED_MUX = """
import sys
from lipdub.media.audio_io import iter_audio_chunks
from lipdub.media.mux import mux_segments

def kib(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key + ":"))

segment, dub, out = sys.argv[1:4]
try:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak to now: imports must not count (if refused, growth is overstated)
except OSError:
    pass
before = kib("VmRSS")
mux_segments([segment], iter_audio_chunks(dub, 48000), 48000, out)
print(kib("VmHWM") - before)
"""


def _write_long_tone_wav(path, seconds: int, rate: int):
    """A long 16-bit mono wav written second by second: 440 Hz fits a second exactly, so one block
    repeats seamlessly (write_wav would need the whole film-length array in memory)."""
    import wave

    block = np.round(tone(1.0, rate, freq=440.0)[0] * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for _ in range(seconds):
            out.writeframes(block)
    return path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_streamed_long_dub_keeps_memory_bounded(tmp_path):
    rate, dub_s, video_s = 48000, 20 * 60, 240
    whole_bytes = dub_s * rate * 4  # the float32 array load_audio would hold: 230 MB
    muxed_bytes = video_s * rate * 4  # the part that is actually muxed: 46 MB
    dub = _write_long_tone_wav(tmp_path / "dub.wav", dub_s, rate)
    seg = write_video(tmp_path / "seg.mp4", video_s, fps=1)
    out = tmp_path / "out.mp4"
    try:
        child = subprocess.run(
            [sys.executable, "-c", _MEASURE_STREAMED_MUX, str(seg), str(dub), str(out)],
            capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[3],
        )
    finally:
        dub.unlink()  # 115 MB: do not leave it in pytest's kept temp dirs
    assert child.returncode == 0, child.stderr
    growth = int(child.stdout.split()[-1]) * 1024
    assert probe_audio(out).duration_s == pytest.approx(video_s, abs=AAC_FRAME / rate)
    # Measured ~14 MB on the dev VM, fixed costs (codec, muxer, one 5 s chunk) whatever the length.
    assert growth < whole_bytes / 3, f"peak RSS grew {growth / 2**20:.0f} MiB"
    assert growth < muxed_bytes, f"peak RSS grew {growth / 2**20:.0f} MiB: muxed audio is being kept"
