"""`lipdub dub` delivers the dub's audio as it came: channels, rate, language tag (issue 23)."""
from __future__ import annotations

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from jobs.cli import app
from lipdub.media.audio_io import load_audio, write_wav

runner = CliRunner()
pytestmark = pytest.mark.slow


def test_a_5_1_dub_comes_out_5_1_at_its_own_rate_with_its_language(tmp_path, ray_local, demo_inputs):
    source, dub = demo_inputs
    # The demo's speech in the centre channel, quieter copies elsewhere, a bass hum in the LFE:
    # a mix a folded-down output would lose.
    speech = load_audio(dub, 44100)
    t = np.arange(len(speech)) / 44100
    mix = np.stack([0.3 * speech, 0.3 * speech, speech, 0.2 * np.sin(2 * np.pi * 50 * t), 0.1 * speech, 0.1 * speech], axis=1)
    surround = tmp_path / "dub_5_1.wav"
    write_wav(surround, mix, 44100)  # untagged 6 channels: taken as 5.1, the log says so
    output = tmp_path / "out" / "dubbed.mp4"
    result = runner.invoke(app, ["dub", "--video", str(source), "--audio", str(surround), "--output", str(output),
                                 "--language", "de", "--work-root", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    with av.open(str(output)) as container:
        stream = container.streams.audio[0]
        context = stream.codec_context
        assert (context.layout.name, context.channels, context.sample_rate) == ("5.1", 6, 44100)
        assert stream.metadata.get("language") == "deu"
        decoded = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], axis=1)
    # Each channel keeps its own level: centre loudest, LFE the hum, the rears quiet.
    rms = np.sqrt((decoded**2).mean(axis=1))
    assert rms[2] > 2.5 * rms[0] > 2.5 * rms[4] > 0
    assert rms[3] > 0.05


def test_a_dub_layout_aac_cannot_carry_fails_before_any_work(tmp_path, demo_inputs):
    source, _ = demo_inputs
    five = tmp_path / "five.wav"
    write_wav(five, np.zeros((16000, 5), np.float32), 16000)
    output = tmp_path / "out" / "dubbed.mp4"
    result = runner.invoke(app, ["dub", "--video", str(source), "--audio", str(five), "--output", str(output)])
    assert result.exit_code == 1, result.output
    assert "channel layout '5 channels' (5 channels) has no AAC channel configuration" in result.output
    assert not output.exists()


def test_a_prores_mezzanine_keeps_the_pcm_dub_bit_exact_and_the_original_audio(tmp_path, ray_local, demo_inputs):
    """ProRes 422 HQ in .mov: the 24-bit PCM dub copied as it is (every sample), the source's own
    audio as a second track not played by default, the output as long as the dub."""
    source, dub = demo_inputs
    speech = load_audio(dub, 48000)
    stereo = tmp_path / "dub_stereo.wav"
    with av.open(str(stereo), "w") as out:  # 24-bit PCM, as a mix is delivered
        stream = out.add_stream("pcm_s24le", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([speech, 0.5 * speech], axis=1).astype(np.float32).reshape(1, -1), format="flt", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        for packet in stream.encode(frame):
            out.mux(packet)
        out.mux(stream.encode(None))
    output = tmp_path / "out" / "dubbed.mov"
    result = runner.invoke(app, ["dub", "--video", str(source), "--audio", str(stereo), "--output", str(output), "--language", "fr",
                                 "--video-codec", "prores", "--keep-original-audio", "--work-root", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output

    def samples(path, index=0):
        with av.open(str(path)) as container:
            return np.concatenate([f.to_ndarray().reshape(-1, 2) for f in container.decode(container.streams.audio[index])])

    with av.open(str(output)) as container:
        video, dub_track, original = container.streams.video[0], *container.streams.audio
        assert (video.codec_context.name, video.codec_context.profile, video.codec_context.pix_fmt) == ("prores", "HQ", "yuv422p10le")
        assert (dub_track.codec_context.name, dub_track.metadata.get("language")) == ("pcm_s24le", "fra")
        assert original.metadata.get("title", original.metadata.get("name")) == "Original audio"  # MOV reads it back as "name"
        assert not original.disposition & av.stream.Disposition.default
        n_frames = sum(1 for _ in container.decode(video))
    assert np.array_equal(samples(output), samples(stereo))
    assert abs(n_frames / 25 - len(speech) / 48000) <= 1 / 25


def test_prores_in_mp4_fails_before_any_work(tmp_path, demo_inputs):
    source, dub = demo_inputs
    output = tmp_path / "out" / "dubbed.mp4"
    result = runner.invoke(app, ["dub", "--video", str(source), "--audio", str(dub), "--output", str(output), "--video-codec", "prores"])
    assert result.exit_code == 1, result.output
    assert "prores cannot be delivered in .mp4; use .mkv, .mov" in result.output
    assert not output.exists()
