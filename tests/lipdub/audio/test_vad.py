from __future__ import annotations

import numpy as np

from lipdub.demo.speech import random_syllables, synthesize_speech
from lipdub.audio.vad import VoiceActivity


def _inside(times: np.ndarray, spans: list[tuple[float, float]], pad: float) -> np.ndarray:
    mask = np.zeros(len(times), bool)
    for start, end in spans:
        mask |= (times >= start - pad) & (times < end + pad)
    return mask


def test_low_in_silence_high_in_speech(speech, vad: VoiceActivity) -> None:
    prob = vad.speech_probability(speech.samples)
    assert prob.shape == (1 + len(speech.samples) // 160,)
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    times = np.arange(len(prob)) / 100.0
    spans = speech.speech_spans()
    core = [(s + 0.05, e - 0.05) for s, e in spans]
    assert prob[_inside(times, core, 0.0)].mean() > 0.7
    assert prob[~_inside(times, spans, 0.3)].mean() < 0.2


def test_pure_silence_and_empty_audio(vad: VoiceActivity) -> None:
    assert vad.speech_probability(np.zeros(16000, np.float32)).max() < 0.2
    assert vad.speech_probability(np.zeros(0, np.float32)).shape == (1,)


def test_long_audio_is_scored_in_pieces(vad: VoiceActivity) -> None:
    """Beyond one piece (8 s) the batched path must still follow the speech and the pauses."""
    speech = synthesize_speech(random_syllables(seed=2, duration_s=20.0), seed=2)
    assert speech.duration_s > 16.0
    prob = vad.speech_probability(speech.samples)
    times = np.arange(len(prob)) / 100.0
    spans = speech.speech_spans()
    core = [(s + 0.05, e - 0.05) for s, e in spans]
    assert prob[_inside(times, core, 0.0)].mean() > 0.7
    assert prob[~_inside(times, spans, 0.3)].mean() < 0.2
