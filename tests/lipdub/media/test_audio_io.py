import wave

import numpy as np
import pytest
from _media_fixtures import tone, write_audio, write_header_only_wav, write_video

from lipdub.errors import InputError
from lipdub.media.audio_io import iter_audio_chunks, load_audio, write_wav


@pytest.mark.parametrize(
    ("name", "codec", "rate", "channels"),
    [
        ("s16.wav", "pcm_s16le", 44100, 2),
        ("s24.wav", "pcm_s24le", 48000, 1),
        ("tone.mp3", "libmp3lame", 44100, 2),
        ("tone.m4a", "aac", 48000, 2),
        ("tone.mp4", "aac", 22050, 1),
        ("tone.flac", "flac", 44100, 2),
        ("surround.wav", "pcm_s16le", 48000, 8),
        ("surround.m4a", "aac", 48000, 8),
        ("phone.wav", "pcm_s16le", 8000, 1),
        ("tone.ogg", "libopus", 48000, 2),
    ],
)
def test_any_format_to_float_mono_16k(tmp_path, name, codec, rate, channels):
    path = write_audio(tmp_path / name, tone(1.5, rate, channels, freq=440.0, amp=0.5), rate, codec)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size / 16000 == pytest.approx(1.5, abs=0.03)
    assert np.abs(samples).max() <= 1.0
    # mono = mean of identical channels: amplitude stays ~0.5 (no +3 dB downmix).
    # AAC band-limits the LFE channel of 7.1 to ~120 Hz, so there the mean is 7/8 of it.
    mid = samples[4000:-4000]
    expected = 0.5 / np.sqrt(2) * (7 / 8 if (codec, channels) == ("aac", 8) else 1.0)
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(expected, rel=0.05)
    # still a 440 Hz tone after resampling
    spectrum = np.abs(np.fft.rfft(mid))
    assert np.fft.rfftfreq(mid.size, 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=5)


def test_other_target_rate(tmp_path):
    path = write_audio(tmp_path / "a.wav", tone(1.0, 44100), 44100, "pcm_s16le")
    assert load_audio(path, sample_rate=22050).size == 22050


def test_audio_from_a_video_file(tmp_path):
    from lipdub.media.mux import mux_segments

    seg = write_video(tmp_path / "seg.mp4", 25)  # 1 s at 25 fps
    out = tmp_path / "av.mp4"
    mux_segments([str(seg)], tone(3.0, 16000)[0], 16000, str(out))
    assert load_audio(out).size / 16000 == pytest.approx(1.0, abs=0.07)


def test_write_wav_round_trip(tmp_path):
    x = tone(0.25, 16000)[0]
    path = tmp_path / "x.wav"
    write_wav(path, x, 16000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 4000)
    np.testing.assert_allclose(load_audio(path), x, atol=1e-4)


def test_write_wav_clips_and_accepts_stereo(tmp_path):
    path = tmp_path / "s.wav"
    write_wav(path, np.stack([np.full(100, 2.0), np.full(100, -2.0)], axis=1), 8000)
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2
        pcm = np.frombuffer(w.readframes(100), "<i2").reshape(-1, 2)
    assert pcm[0].tolist() == [32767, -32767]


def test_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "zero.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_audio(empty)
    with pytest.raises(InputError, match="audio stream is empty"):
        load_audio(write_header_only_wav(tmp_path / "silent.wav"))
    with pytest.raises(InputError, match="no audio stream"):
        load_audio(write_video(tmp_path / "v.mp4", 2))
    for seed in range(4):
        junk = tmp_path / f"junk{seed}.mp3"
        junk.write_bytes(np.random.default_rng(seed).bytes(3000 + seed))
        with pytest.raises(InputError) as exc:
            load_audio(junk)
        assert str(junk) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.media
def test_real_dub_track(shared_media):
    samples = load_audio(shared_media / "dub_audio" / "en_long_60s.wav")
    assert samples.size / 16000 == pytest.approx(60.0, abs=0.5)


# --- streaming: iter_audio_chunks --------------------------------------------------------------


def _stereo_wav(path, seconds, rate):
    left, right = tone(seconds, rate, freq=440.0), tone(seconds, rate, freq=660.0, amp=0.3)
    write_wav(path, np.concatenate([left, right]).T, rate)
    return path


@pytest.mark.parametrize("rate", [48000, 16000])
@pytest.mark.parametrize(
    ("name", "codec", "source_rate"),
    [("dub.wav", None, 44100), ("dub.m4a", "aac", 48000), ("dub.mp4", "aac", 22050), ("dub.mp3", "libmp3lame", 44100)],
)
def test_chunks_are_load_audio_in_pieces(tmp_path, name, codec, source_rate, rate):
    if codec is None:
        path = _stereo_wav(tmp_path / name, 2.3, source_rate)
    else:
        path = write_audio(tmp_path / name, tone(2.3, source_rate, 2), source_rate, codec)
    chunks = list(iter_audio_chunks(path, rate, chunk_seconds=0.25))
    whole = load_audio(path, sample_rate=rate)
    assert len(chunks) == 10 and all(c.size == rate // 4 for c in chunks[:-1])
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    # Same decode, same resampler, same padding trim: bit-identical, not merely close.
    np.testing.assert_array_equal(np.concatenate(chunks), whole)
    # The codec padding past the stated 2.3 s is trimmed while streaming too.
    assert whole.size == round(2.3 * rate)


def test_chunk_size_does_not_change_the_samples(tmp_path):
    path = write_audio(tmp_path / "dub.m4a", tone(1.3, 44100), 44100, "aac")
    one = np.concatenate(list(iter_audio_chunks(path, 48000, chunk_seconds=100.0)))
    tiny = list(iter_audio_chunks(path, 48000, chunk_seconds=0.001))
    assert {c.size for c in tiny[:-1]} == {48}
    np.testing.assert_array_equal(np.concatenate(tiny), one)


@pytest.mark.parametrize(
    ("pieces", "stated", "expected"),
    [
        ([700, 400], 1000, 1000),  # 100 samples of codec padding: trimmed
        ([1000, 200, 1], 1000, 1000),  # padding arriving in several pieces
        ([1000, 3200], 1000, 1000),  # exactly 0.2 s past the end: still padding
        ([1000, 3201], 1000, 4201),  # more than 0.2 s: a wrong header, keep it all
        ([500] + [600] * 7, 1000, 4700),  # ... also when it arrives bit by bit
        ([900], 1000, 900),  # shorter than stated: nothing to trim
        ([1000, 100], 0, 1100),  # no stated duration: nothing to trim
    ],
)
def test_padding_trim_decides_like_the_whole_array(pieces, stated, expected):
    from lipdub.media.audio_io import _PaddingTrim

    rate = 16000  # 0.2 s = 3200 samples of padding at most
    trim = _PaddingTrim(stated / rate, rate)
    audio = np.arange(sum(pieces), dtype=np.float32)
    kept, start = [], 0
    for n in pieces:
        kept.extend(trim.push(audio[start:start + n]))
        start += n
    trim.finish()
    np.testing.assert_array_equal(np.concatenate(kept), audio[:expected])


def test_chunk_errors_come_while_iterating(tmp_path):
    with pytest.raises(ValueError):
        iter_audio_chunks(tmp_path / "missing.wav", 0)
    with pytest.raises(ValueError):
        iter_audio_chunks(tmp_path / "missing.wav", 16000, chunk_seconds=0.0)
    missing = iter_audio_chunks(tmp_path / "missing.wav", 16000)  # nothing opened yet
    with pytest.raises(InputError, match="does not exist"):
        next(missing)
    with pytest.raises(InputError, match="audio stream is empty"):
        next(iter_audio_chunks(write_header_only_wav(tmp_path / "silent.wav"), 16000))
    with pytest.raises(InputError, match="no audio stream"):
        next(iter_audio_chunks(write_video(tmp_path / "v.mp4", 2), 16000))
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(InputError, match="junk.mp3"):
        list(iter_audio_chunks(junk, 16000))
