"""Speech fixtures for the motion models: synthesized speech analysed once per session."""
from __future__ import annotations

import pytest

from lipdub.audio.features import SpeechFeatures, loudness, log_mel
from lipdub.demo.speech import SynthSpeech, random_syllables, synthesize_speech
from lipdub.audio.vad import VoiceActivity


@pytest.fixture(scope="session")
def vad() -> VoiceActivity:
    return VoiceActivity()


def features_with_true_phones(speech: SynthSpeech, vad: VoiceActivity) -> SpeechFeatures:
    """SpeechFeatures whose phones are the synthesizer's own (exact) timings."""
    samples = speech.samples
    return SpeechFeatures(
        mel=log_mel(samples), loudness_db=loudness(samples), speech_prob=vad.speech_probability(samples),
        phones=list(speech.phones), duration_s=speech.duration_s,
    )


@pytest.fixture(scope="session")
def phrase(vad) -> tuple[SynthSpeech, SpeechFeatures]:
    speech = synthesize_speech("ma pa ba, wu wi | sa ma", seed=0)
    return speech, features_with_true_phones(speech, vad)


@pytest.fixture(scope="session")
def source_and_dub(vad) -> tuple[SpeechFeatures, SpeechFeatures]:
    """A 6 s 'source' and a 5 s 'dub' of random syllables."""
    src = synthesize_speech(random_syllables(seed=11, duration_s=6.0), seed=11)
    dub = synthesize_speech(random_syllables(seed=12, duration_s=5.0), seed=12)
    return features_with_true_phones(src, vad), features_with_true_phones(dub, vad)


@pytest.fixture(scope="session")
def speech_of_seconds(vad):
    """Random-syllable speech of a given length (analysed once per length)."""
    made: dict[float, SpeechFeatures] = {}

    def make(seconds: float) -> SpeechFeatures:
        if seconds not in made:
            speech = synthesize_speech(random_syllables(seed=21, duration_s=seconds), seed=21)
            made[seconds] = features_with_true_phones(speech, vad)
        return made[seconds]

    return make


# --- the learned model: synthetic training windows where speech drives the mouth ----------------

import numpy as np  # noqa: E402

from models.lip_shapes import N_LIPS, OPENING_PAIR  # noqa: E402
from models.motion_inputs import n_input_features  # noqa: E402

TINY_NET = {"d_model": 16, "n_layers": 1, "n_heads": 2, "ff_dim": 32}


def synthetic_windows(n_windows: int, seed: int, length: int = 64) -> list[dict[str, np.ndarray]]:
    """Windows whose lower lip drops with a smoothed "loudness" column, one step late.

    A learnable, known relation: a model that learned it predicts the opening of unseen windows.
    """
    rng = np.random.default_rng(seed)
    n_features = n_input_features("logmel")
    reference = np.zeros((N_LIPS, 2), np.float32)
    reference[:, 0] = np.linspace(-0.4, 0.4, N_LIPS)
    reference[:, 1] = 0.9
    windows = []
    for _ in range(n_windows):
        drive = np.convolve(rng.normal(size=length + 8), np.ones(5) / 5, mode="same")[4 : 4 + length]
        features = rng.normal(scale=0.5, size=(length, n_features)).astype(np.float32)
        features[:, 80] = drive  # the loudness column
        opening = 0.1 / (1.0 + np.exp(-3.0 * np.roll(drive, 1)))
        motion = np.zeros((length, N_LIPS, 2), np.float32)
        motion[:, OPENING_PAIR[1], 1] = opening  # lower inner lip moves down
        windows.append({"features": features, "motion": motion, "valid": np.ones(length, np.float32),
                        "reference": reference, "clip": f"synthetic-{seed}"})
    return windows


def as_batches(windows: list[dict[str, np.ndarray]], batch_size: int = 16):
    names = ("features", "motion", "valid", "reference")
    return [{k: np.stack([w[k] for w in windows[i : i + batch_size]]) for k in names} for i in range(0, len(windows), batch_size)]
