import numpy as np
import pytest

from lipdub.evaluation.metrics import OutsidePSNR, av_offset, lower_face_mask, mouth_jitter, pearson


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


def test_jitter_and_psnr():
    assert mouth_jitter(np.array([0.0, 1.0, 0.0, 1.0])) == pytest.approx(1.0)
    src = np.full((20, 20, 3), 100, np.uint8)
    out = src.copy()
    out[5:10, 5:10] = 0
    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = True
    meter = OutsidePSNR()
    meter.add(out, src, mask)
    assert meter.psnr_db() == float("inf")
    meter.add(out, src, np.zeros((20, 20), bool))
    assert 10 < meter.psnr_db() < 30


def test_lower_face_mask_empty_without_landmarks():
    assert not lower_face_mask((10, 10), None).any()
