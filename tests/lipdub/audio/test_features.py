from __future__ import annotations

import io

import numpy as np
import pytest

from lipdub.audio.features import (
    HOP, N_MELS, SAMPLE_RATE, SILENCE_DB, SpeechFeatures, analyze_speech, frames_at, log_mel, loudness,
)
from lipdub.audio.phonemes import PhoneSegment
from lipdub.errors import InputError


def test_log_mel_shape_and_hop() -> None:
    samples = np.zeros(SAMPLE_RATE, np.float32)
    mel = log_mel(samples)
    assert mel.shape == (1 + SAMPLE_RATE // HOP, N_MELS) == (101, 80)
    assert mel.dtype == np.float32
    assert np.isfinite(mel).all()


def test_log_mel_follows_a_tone_burst() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    samples = np.where((t >= 0.5) & (t < 0.7), 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)
    energy = log_mel(samples).max(axis=1)
    # Frame k is centred at k / 100 s: loud inside the burst, quiet well outside it.
    assert energy[55:65].min() > energy[:40].max() + 10
    assert energy[80:].max() < energy[55:65].min() - 10


def test_loudness_levels() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    level = loudness(tone)
    assert level.shape == (101,)
    assert np.allclose(level[5:-5], 20 * np.log10(0.5 / np.sqrt(2)), atol=0.2)
    assert np.allclose(loudness(np.zeros(800, np.float32)), SILENCE_DB)


def test_frames_at_box_averages_and_pads() -> None:
    feature = np.arange(100, dtype=np.float64)  # 1 s ramp at 100 Hz
    out = frames_at(feature, 25, 25.0)
    assert out.shape == (25,)
    # Frame i covers [0.04 i, 0.04 (i + 1)) = feature samples 4i .. 4i+4 (the two ends by half).
    assert np.allclose(out[1:-1], 4 * np.arange(1, 24) + 2.0, atol=1e-4)
    constant = frames_at(np.full((100, 3), 7.0), 40, 30.0)
    assert constant.shape == (40, 3)  # 40 frames at 30 fps run past the 1 s feature: edge value
    assert np.allclose(constant, 7.0)
    fast = frames_at(feature, 300, 300.0)  # video frames shorter than feature frames
    assert np.allclose(fast[150], 50.0, atol=0.6)


def test_frames_at_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        frames_at(np.zeros(0), 5, 25.0)
    assert frames_at(np.zeros(10), 0, 25.0).shape == (0,)


def test_speech_features_npz_roundtrip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    features = SpeechFeatures(
        mel=rng.standard_normal((50, 80)).astype(np.float32),
        loudness_db=rng.standard_normal(50).astype(np.float32),
        speech_prob=rng.random(50).astype(np.float32),
        phones=[PhoneSegment("AA", 0.1, 0.2), PhoneSegment("M", 0.2, 0.25)],
        duration_s=0.5,
    )
    path = tmp_path / "speech.npz"
    features.to_npz(path)
    loaded = SpeechFeatures.from_npz(path)
    assert np.array_equal(loaded.mel, features.mel)
    assert np.array_equal(loaded.loudness_db, features.loudness_db)
    assert np.array_equal(loaded.speech_prob, features.speech_prob)
    assert loaded.phones == features.phones
    assert loaded.duration_s == 0.5
    buffer = io.BytesIO()
    SpeechFeatures(features.mel, features.loudness_db, features.speech_prob, [], 0.5).to_npz(buffer)
    buffer.seek(0)
    assert SpeechFeatures.from_npz(buffer).phones == []


def test_analyze_speech_aligns_all_features(speech, vad, recognizer) -> None:
    features = analyze_speech(speech.samples, vad, recognizer)
    n = 1 + len(speech.samples) // HOP
    assert features.mel.shape == (n, N_MELS)
    assert features.loudness_db.shape == features.speech_prob.shape == (n,)
    assert features.duration_s == pytest.approx(speech.duration_s)
    assert len(features.phones) > 5


def test_analyze_speech_with_a_bad_transcript_falls_back(speech, vad, recognizer, caplog) -> None:
    features = analyze_speech(speech.samples, vad, recognizer, transcript="qzxv blorptang")
    assert len(features.phones) > 5
    assert "alignment failed" in caplog.text


def test_analyze_speech_rejects_empty_audio(vad, recognizer) -> None:
    with pytest.raises(InputError):
        analyze_speech(np.zeros(0, np.float32), vad, recognizer)
