import numpy as np
import pytest

from lipdub.evaluation.metrics import av_offset, mouth_jitter, pearson


def test_pearson_ignores_nans_and_handles_constants():
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    assert pearson(a, a * 3 + 1) == pytest.approx(1.0)
    assert np.isnan(pearson(np.ones(10), np.arange(10.0)))


def test_av_offset_finds_a_known_delay():
    rng = np.random.default_rng(0)
    loud = np.convolve(rng.normal(size=300), np.ones(5) / 5, mode="same")
    mouth = np.roll(loud, 3)  # mouth 3 frames late
    lag, corr, zero = av_offset(mouth, loud, max_lag=8)
    assert lag == 3
    assert corr > 0.95 > zero


def test_jitter():
    assert mouth_jitter(np.array([0.0, 1.0, 0.0, 1.0])) == pytest.approx(1.0)
    assert np.isnan(mouth_jitter(np.array([np.nan, 1.0])))


def test_syllable_sync_finds_a_delay_under_phrase_trends_and_silence():
    from lipdub.evaluation.metrics import syllable_sync

    rng = np.random.default_rng(2)
    n = 400
    syllables = np.convolve(rng.random(n), np.ones(4) / 4, mode="same")
    trend = np.linspace(-20, 0, n)  # the speaker gets louder: no counterpart in the mouth
    loudness = -30 + 15 * syllables + trend
    loudness[150:200] = -100.0  # digital silence
    mouth = np.roll(syllables, 2)  # mouth two frames late
    mouth[150:200] = 0.0
    lag, corr, zero = syllable_sync(mouth, loudness, fps=25.0, max_lag=8)
    assert lag == 2 and corr > 0.5 and corr > zero + 0.1, (corr, zero)
