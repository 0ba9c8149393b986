from __future__ import annotations

import numpy as np
import pytest

from lipdub.demo.speech import random_syllables, synthesize_speech
from lipdub.errors import InputError


def test_deterministic_by_seed() -> None:
    a = synthesize_speech("ba di", seed=3)
    b = synthesize_speech("ba di", seed=3)
    c = synthesize_speech("ba di", seed=4)
    assert np.array_equal(a.samples, b.samples)
    assert a.phones == b.phones
    assert not np.array_equal(a.samples[: len(c.samples)], c.samples[: len(a.samples)])


def test_phones_and_pauses() -> None:
    speech = synthesize_speech("ba shi, mu | za", seed=0)
    assert [p.phone for p in speech.phones] == ["B", "AA", "SH", "IY", "M", "UW", "Z", "AA"]
    assert speech.samples.dtype == np.float32
    assert np.abs(speech.samples).max() <= 0.5 + 1e-6
    spans = speech.speech_spans()
    assert len(spans) == 3
    assert spans[1][0] - spans[0][1] == pytest.approx(0.3, abs=1e-3)
    assert spans[2][0] - spans[1][1] == pytest.approx(0.6, abs=1e-3)
    sr = speech.sample_rate
    pause = speech.samples[int((spans[0][1] + 0.08) * sr) : int((spans[1][0] - 0.05) * sr)]
    vowel = next(p for p in speech.phones if p.phone == "AA")
    voiced = speech.samples[int(vowel.start_s * sr) : int(vowel.end_s * sr)]
    assert np.sqrt(np.mean(pause**2)) < 0.01 * np.sqrt(np.mean(voiced**2))
    assert speech.phones[-1].end_s < speech.duration_s


def test_random_utterance() -> None:
    text = random_syllables(seed=5, duration_s=10.0)
    speech = synthesize_speech(text, seed=5)
    assert 7.0 < speech.duration_s < 13.0
    assert synthesize_speech(None, seed=1).duration_s > 2.0


def test_bad_text() -> None:
    with pytest.raises(InputError):
        synthesize_speech("bä", seed=0)
    with pytest.raises(InputError):
        synthesize_speech(" , | ", seed=0)
