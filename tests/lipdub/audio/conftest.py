"""Shared, expensive-to-build audio objects: models load once per test session."""
from __future__ import annotations

import pytest

from lipdub.audio.phonemes import PhoneRecognizer
from lipdub.demo.speech import SynthSpeech, synthesize_speech
from lipdub.audio.vad import VoiceActivity


@pytest.fixture(scope="session")
def vad() -> VoiceActivity:
    return VoiceActivity()


@pytest.fixture(scope="session")
def recognizer() -> PhoneRecognizer:
    return PhoneRecognizer()


@pytest.fixture(scope="session")
def speech() -> SynthSpeech:
    """Three phrases with pauses between them: 'ba di gu, sa mo la | fe ni po ta ke'."""
    return synthesize_speech("ba di gu, sa mo la | fe ni po ta ke", seed=0)
