"""Speech fixtures for the motion models: synthesized speech analysed once per session."""
from __future__ import annotations

import pytest

from lipdub.audio.features import SpeechFeatures, loudness, log_mel
from lipdub.audio.synth import SynthSpeech, random_syllables, synthesize_speech
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
