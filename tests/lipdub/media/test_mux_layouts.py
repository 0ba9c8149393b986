"""The dub's audio as delivered: channel layout, sample rate and track tags survive the mux."""
import av
import numpy as np
import pytest
from _media_fixtures import color_frames, write_audio

from lipdub.errors import InputError
from lipdub.media.audio_io import iter_audio_chunks, write_wav
from lipdub.media.mux import aac_accepts, delivered_audio, mux_segments
from lipdub.media.probe import probe_audio
from lipdub.media.video_writer import VideoWriter

# Index 3 is the LFE channel of 5.1 and 7.1, which AAC low-passes: it gets a bass tone.
CHANNEL_FREQS = (220.0, 330.0, 440.0, 60.0, 660.0, 770.0, 880.0, 990.0)


def _segment(tmp_path, seconds: float) -> str:
    path = tmp_path / "seg.mp4"
    with VideoWriter(path, 64, 48, 25) as writer:
        for frame in color_frames(int(seconds * 25), 64, 48):
            writer.write(frame)
    return str(path)


def _channel_tones(channels: int, rate: int, seconds: float) -> np.ndarray:
    """(channels, n): each channel its own frequency, so a swapped or mixed channel shows."""
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * CHANNEL_FREQS[c] * t) for c in range(channels)]).astype(np.float32)


def _decoded(path) -> tuple[np.ndarray, av.AudioStream]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray() for f in container.decode(stream)]
        layout, rate = stream.codec_context.layout, stream.codec_context.sample_rate
        tags = dict(stream.metadata)
    planar = np.concatenate(frames, axis=1)  # fltp: (channels, n)
    return planar, (layout.name, layout.nb_channels, rate, tags)


def _snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    n = min(len(reference), len(decoded))
    # AAC delays by its priming samples; the muxer's edit list removes them, so align by search.
    best = max(range(-64, 65), key=lambda lag: float(np.dot(reference[200:n - 200], np.roll(decoded[:n], lag)[200:n - 200])))
    ref, dec = reference[200:n - 200], np.roll(decoded[:n], best)[200:n - 200]
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - dec) ** 2), 1e-20)))


@pytest.mark.parametrize(("layout", "rate"), [("mono", 48000), ("stereo", 44100), ("5.1", 48000)])
def test_the_dub_keeps_its_layout_rate_and_tags(tmp_path, layout, rate):
    channels = av.AudioLayout(layout).nb_channels
    tones = _channel_tones(channels, rate, 2.0)
    dub = write_audio(tmp_path / "dub.wav", tones, rate, "pcm_s16le", layout=layout)
    found = probe_audio(dub)  # a WAV may leave mono untagged ("1 channels"); the rest carry their mask
    assert (found.channels, found.sample_rate) == (channels, rate) and found.layout in (layout, f"{channels} channels")
    out = tmp_path / "out.mp4"
    mux_segments([_segment(tmp_path, 2.0)], iter_audio_chunks(dub, rate, keep_channels=True), rate, str(out),
                 audio_bitrate=128_000 * channels, audio_layout=layout, audio_metadata={"language": "deu", "title": "German dub"})
    decoded, (name, n_channels, out_rate, tags) = _decoded(out)
    assert (name, n_channels, out_rate) == (layout, channels, rate)
    # MP4 stores the title as the track's name (read back as "name"; Matroska says "title").
    assert tags.get("language") == "deu" and tags.get("title", tags.get("name")) == "German dub"
    for c in range(channels):  # every channel is its own, in order, and clean
        assert _snr_db(tones[c], decoded[c]) > 25.0  # measured 30-60 dB at 128 kb/s per channel


def test_chunks_keep_their_channels_and_match_the_mono_mean(tmp_path):
    tones = _channel_tones(2, 16000, 1.0)
    dub = write_audio(tmp_path / "dub.wav", tones, 16000, "pcm_s16le", layout="stereo")
    kept = np.concatenate(list(iter_audio_chunks(dub, 16000, chunk_seconds=0.3, keep_channels=True)))
    mono = np.concatenate(list(iter_audio_chunks(dub, 16000, chunk_seconds=0.3)))
    assert kept.shape == (16000, 2)
    np.testing.assert_allclose(kept.mean(axis=1), mono, atol=1e-6)


def test_aac_layouts_are_known_by_trying_the_encoder():
    assert aac_accepts("mono") and aac_accepts("stereo") and aac_accepts("5.1")
    assert not aac_accepts("22.2")  # 24 channels: no AAC channel configuration


def test_the_delivered_format_is_the_dubs_own_or_refused_by_name(tmp_path, caplog):
    assert delivered_audio("5.1(side)", 6, 44100, "dub.wav") == ("5.1(side)", 44100)
    assert delivered_audio("stereo", 2, 192000, "dub.wav") == ("stereo", 48000)  # AAC has no 192 kHz
    # A plain PCM WAV has no channel mask: 6 untagged channels are taken as 5.1, and the log says so.
    six = tmp_path / "six.wav"
    write_wav(six, np.zeros((4800, 6), np.float32), 48000)
    info = probe_audio(six)
    assert (info.layout, info.channels) == ("6 channels", 6)
    assert delivered_audio(info.layout, info.channels, info.sample_rate, str(six)) == ("5.1", 48000)
    assert "untagged 6-channel dub taken as 5.1" in caplog.text
    # Counts with no standard layout are refused, naming the layout: never silently downmixed.
    five = tmp_path / "five.wav"
    write_wav(five, np.zeros((4800, 5), np.float32), 48000)
    info = probe_audio(five)
    with pytest.raises(InputError, match=r"channel layout '5 channels' \(5 channels\) has no AAC"):
        delivered_audio(info.layout, info.channels, info.sample_rate, str(five))
