from __future__ import annotations

import numpy as np
import pytest

from lipdub.audio.phonemes import PhoneRecognizer, PhoneSegment, is_silence, normalize_transcript
from lipdub.demo.speech import synthesize_speech
from lipdub.errors import InputError


def _check_sorted(phones: list[PhoneSegment]) -> None:
    for a, b in zip(phones, phones[1:]):
        assert a.start_s < a.end_s <= b.start_s


def test_recognized_phones_lie_inside_the_speech(speech, recognizer: PhoneRecognizer) -> None:
    phones = recognizer.recognize(speech.samples)
    assert len(phones) >= 10
    _check_sorted(phones)
    spans = speech.speech_spans()
    for p in phones:
        assert not is_silence(p.phone)
        mid = (p.start_s + p.end_s) / 2
        assert any(s - 0.15 <= mid <= e + 0.15 for s, e in spans), p
    # Every phrase is heard.
    for s, e in spans:
        assert any(s - 0.1 <= (p.start_s + p.end_s) / 2 <= e + 0.1 for p in phones)


def test_recognize_silence_gives_no_phones(recognizer: PhoneRecognizer) -> None:
    rng = np.random.default_rng(0)
    assert recognizer.recognize((1e-4 * rng.standard_normal(16000)).astype(np.float32)) == []
    assert recognizer.recognize(np.zeros(0, np.float32)) == []


def test_align_follows_known_timings(recognizer: PhoneRecognizer) -> None:
    speech = synthesize_speech("bab did go, ma ma", seed=0)
    phones = recognizer.align(speech.samples, "Bob deed go, mama!")
    _check_sorted(phones)
    assert [p.phone for p in phones][:8] == ["B", "AA", "B", "D", "IY", "D", "G", "OW"]
    truth = speech.phones
    for got, want in zip(phones[:8], truth[:8]):
        assert abs((got.start_s + got.end_s) / 2 - (want.start_s + want.end_s) / 2) < 0.06


def test_align_rejects_unknown_words_and_empty_text(recognizer: PhoneRecognizer, speech) -> None:
    with pytest.raises(InputError, match="qzxv"):
        recognizer.align(speech.samples, "bob qzxv")
    with pytest.raises(InputError):
        recognizer.align(speech.samples, " ... ")


def test_normalize_transcript() -> None:
    assert normalize_transcript("Don't STOP, it's 4 me!") == ["don't", "stop", "it's", "4", "me"]
