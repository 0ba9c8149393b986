from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
from _media_fixtures import (
    tone,
    write_audio,
    write_header_only_wav,
    write_vfr_video,
    write_video,
)

from lipdub.errors import InputError
from lipdub.media._av import as_fraction, clockwise_from_tag
from lipdub.media.probe import AudioInfo, VideoInfo, probe_audio, probe_video


@pytest.mark.parametrize("fps", [Fraction(2213, 100), Fraction(1350, 61), Fraction(30000, 1001), Fraction(25)])
def test_probe_reports_exact_rate_and_count(tmp_path, fps):
    path = write_video(tmp_path / "v.mp4", 13, fps=fps)
    info = probe_video(path)
    assert info.fps == fps
    assert info.n_frames == 13
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.duration_s == pytest.approx(13 / float(fps), abs=1e-3)
    assert info.video_codec == "h264"
    assert not info.has_audio and info.audio_sample_rate is None


def test_probe_rotation_and_display_size(tmp_path):
    path = write_video(tmp_path / "r.mp4", 4, width=64, height=48, rotation=90)
    info = probe_video(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (48, 64)  # stored
    assert info.display_size == (64, 48)  # upright


def test_display_size_is_plain_for_180():
    info = VideoInfo(40, 30, 180, Fraction(25), 1, 0.04, "h264", False, None, None)
    assert info.display_size == (40, 30)


def test_probe_counts_frames_by_demuxing_when_container_does_not_say(tmp_path):
    path = write_video(tmp_path / "v.mkv", 11, fps=Fraction(30000, 1001))
    info = probe_video(path)
    assert info.n_frames == 11
    assert info.fps == Fraction(30000, 1001)


def test_probe_variable_frame_rate_reports_average(tmp_path):
    pts = [0, 40, 80, 200, 240, 400, 410, 420, 600, 640]
    path = write_vfr_video(tmp_path / "vfr.mp4", pts)
    info = probe_video(path)
    assert info.n_frames == 10
    assert 10.0 < float(info.fps) < 25.0


def test_probe_video_with_audio(tmp_path):
    from lipdub.media.mux import mux_segments

    seg = write_video(tmp_path / "seg.mp4", 10)
    out = tmp_path / "av.mp4"
    mux_segments([str(seg)], tone(0.4, 16000)[0], 16000, str(out))
    info = probe_video(out)
    assert info.has_audio and info.audio_sample_rate == 16000 and info.audio_channels == 1


def test_probe_audio_formats(tmp_path):
    path = write_audio(tmp_path / "a.flac", tone(0.5, 44100, 2), 44100, "flac")
    assert probe_audio(path) == AudioInfo(44100, 2, pytest.approx(0.5, abs=1e-3), "flac", "stereo", "s16", 0)


def test_legacy_rotate_tag():
    assert clockwise_from_tag(SimpleNamespace(metadata={"rotate": "90"})) == 90
    assert clockwise_from_tag(SimpleNamespace(metadata={"rotate": "-90"})) == 270
    assert clockwise_from_tag(SimpleNamespace(metadata={})) is None


def test_float_rates_snap_to_exact_fractions():
    assert as_fraction(22.13) == Fraction(2213, 100)
    assert as_fraction(30000 / 1001) == Fraction(30000, 1001)
    assert as_fraction(1350 / 61) == Fraction(1350, 61)
    assert as_fraction(25) == Fraction(25)
    with pytest.raises(ValueError):
        as_fraction(0)


# --- bad inputs: one clear line naming the path, never a raw av error ---------------------


def _assert_clean(exc: pytest.ExceptionInfo, path) -> None:
    msg = str(exc.value)
    assert str(path) in msg
    assert "\n" not in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(InputError, match="does not exist") as exc:
        probe_video(path)
    _assert_clean(exc, path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    for fn in (probe_video, probe_audio):
        with pytest.raises(InputError, match="empty") as exc:
            fn(path)
        _assert_clean(exc, path)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_never_crash(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / f"junk{seed}.mp4"
    path.write_bytes(rng.bytes(int(rng.integers(1, 20000))))
    for fn in (probe_video, probe_audio):
        with pytest.raises(InputError) as exc:
            fn(path)
        _assert_clean(exc, path)


@pytest.mark.parametrize("name", ["notes.txt", "readme.nfo"])
def test_text_file_is_not_media(tmp_path, name):
    # FFmpeg's tty demuxer would play these as an ANSI-art "video" of 640x400.
    from lipdub.media.audio_io import load_audio

    path = tmp_path / name
    path.write_text("Dub for episode 3: see the attached file.\n" * 20)
    for fn in (probe_video, probe_audio, load_audio):
        with pytest.raises(InputError, match="text file") as exc:
            fn(path)
        _assert_clean(exc, path)


def test_truncated_file(tmp_path):
    full = write_video(tmp_path / "full.mp4", 20).read_bytes()
    # into the samples, into the trailing moov index, and just past the header
    for cut in (len(full) // 2, len(full) - 300, 100):
        path = tmp_path / f"cut{cut}.mp4"
        path.write_bytes(full[:cut])
        with pytest.raises(InputError) as exc:
            probe_video(path)
        _assert_clean(exc, path)


def test_truncated_audio_in_mp4_is_detected_from_the_index(tmp_path):
    # Otherwise the dub would silently stop where the file was cut.
    from lipdub.media.mux import mux_segments

    out = tmp_path / "dub.mp4"  # moov first (faststart), so the cut file still opens
    mux_segments([str(write_video(tmp_path / "seg.mp4", 50))], tone(2.0, 16000)[0], 16000, str(out))
    data = out.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="file is truncated") as exc:
        probe_audio(path)
    _assert_clean(exc, path)


def test_truncated_faststart_file_is_detected_from_the_index(tmp_path):
    from lipdub.media.mux import mux_segments

    seg = write_video(tmp_path / "seg.mp4", 30)
    out = tmp_path / "fast.mp4"  # mux writes moov first (faststart)
    mux_segments([str(seg)], tone(1.2, 16000)[0], 16000, str(out))
    data = out.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="truncated"):
        probe_video(cut)


def test_no_video_stream(tmp_path):
    path = write_audio(tmp_path / "a.wav", tone(0.2, 16000), 16000, "pcm_s16le")
    with pytest.raises(InputError, match="no video stream") as exc:
        probe_video(path)
    _assert_clean(exc, path)


def test_no_audio_stream(tmp_path):
    path = write_video(tmp_path / "v.mp4", 3)
    with pytest.raises(InputError, match="no audio stream") as exc:
        probe_audio(path)
    _assert_clean(exc, path)


def test_zero_frames(tmp_path):
    import av

    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    with pytest.raises(InputError) as exc:
        probe_video(path)
    _assert_clean(exc, path)


def test_empty_audio(tmp_path):
    path = write_header_only_wav(tmp_path / "silent.wav")
    with pytest.raises(InputError, match="empty") as exc:
        probe_audio(path)
    _assert_clean(exc, path)


@pytest.mark.media
def test_real_clip_at_22_13_fps(shared_media):
    info = probe_video(shared_media / "clips" / "real_01.mp4")
    assert info.fps == Fraction(1350, 61)
    assert info.n_frames == 135
    assert info.has_audio
