from __future__ import annotations

import numpy as np
import pytest

from lipdub.audio.features import SpeechFeatures, frames_at
from lipdub.errors import InputError
from models.speaker_calibration import SPEECH_LEAD_S, CalibratedMotionModel, long_pause_mask, rest_frames, rest_mouth
from models.viseme_rules import VisemeRulesModel

FPS = 25.0


def _speaker_mouth(features: SpeechFeatures, n: int, rng: np.random.Generator) -> np.ndarray:
    """A made-up speaker whose mouth follows the rules track, in their own units, plus noise."""
    rel = frames_at(VisemeRulesModel().relative_track(features), n, FPS)
    opening = 0.03 + 0.12 * rel[:, 0] + 0.01 * rng.standard_normal(n)
    width = 0.50 + 0.04 * rel[:, 1] + 0.005 * rng.standard_normal(n)
    return np.stack([np.maximum(opening, 0.0), width], axis=1)


def test_calibration_maps_into_the_speakers_range(source_and_dub) -> None:
    source, dub = source_and_dub
    rng = np.random.default_rng(0)
    n_src, n_dub = int(source.duration_s * FPS), int(dub.duration_s * FPS)
    measured = _speaker_mouth(source, n_src, rng)
    truth = _speaker_mouth(dub, n_dub, rng)
    model = CalibratedMotionModel()
    model.fit_speaker(source, measured, FPS)
    assert model.used_fit["opening"]
    out = model.predict(dub, n_dub, FPS)
    assert out.shape == (n_dub, 2) and out.dtype == np.float32
    for j in range(2):
        lo, hi = np.percentile(measured[:, j], [0, 100])
        span = hi - lo
        assert lo - 0.15 * span <= out[:, j].min() and out[:, j].max() <= hi + 0.15 * span
        assert abs(np.median(out[:, j]) - np.median(measured[:, j])) < 0.35 * span
    assert np.corrcoef(out[:, 0], truth[:, 0])[0, 1] > 0.6
    assert np.corrcoef(out[:, 1], truth[:, 1])[0, 1] > 0.3


def test_short_source_falls_back_to_the_prior(source_and_dub) -> None:
    source, dub = source_and_dub
    rng = np.random.default_rng(1)
    n_short = int(1.0 * FPS)  # shorter than min_fit_s
    measured = _speaker_mouth(source, n_short, rng)
    model = CalibratedMotionModel()
    model.fit_speaker(source, measured, FPS)
    assert not model.used_fit["opening"] and not model.used_fit["width"]
    out = model.predict(dub, int(dub.duration_s * FPS), FPS)
    assert np.isfinite(out).all()
    assert out[:, 0].min() >= 0.0


def test_missing_frames_are_ignored_and_bad_input_rejected(source_and_dub) -> None:
    source, dub = source_and_dub
    rng = np.random.default_rng(2)
    n_src = int(source.duration_s * FPS)
    measured = _speaker_mouth(source, n_src, rng)
    measured[10:30] = np.nan
    model = CalibratedMotionModel()
    model.fit_speaker(source, measured, FPS)
    assert np.isfinite(model.predict(dub, 50, FPS)).all()
    with pytest.raises(InputError):
        model.fit_speaker(source, np.zeros((n_src, 3)), FPS)


def test_pauses_give_the_resting_mouth(source_and_dub) -> None:
    source, dub = source_and_dub
    rng = np.random.default_rng(3)
    measured = _speaker_mouth(source, int(source.duration_s * FPS), rng)
    model = CalibratedMotionModel()
    model.fit_speaker(source, measured, FPS)
    n = int((dub.duration_s + 1.0) * FPS)
    out = model.predict(dub, n, FPS)
    # Pauses rest, but for their last SPEECH_LEAD_S before speech resumes (the mouth prepares).
    rest = rest_frames(dub, n, FPS, model.min_pause_s)
    lead = int(round(SPEECH_LEAD_S * FPS))
    resting = rest.copy()
    for end in np.flatnonzero(np.diff(rest.astype(int)) == -1) + 1:
        resting[max(end - lead, 0):end] = False
    assert np.count_nonzero(resting) > 3
    assert np.allclose(out[resting, 0], model.speaker.rest_opening)
    assert np.allclose(out[-int(FPS) :, 0], model.speaker.rest_opening)


def test_the_mouth_prepares_for_speech_before_a_pause_ends() -> None:
    speaking = np.array([[0.30, 0.60]] * 10, np.float32)
    resting = np.array([0.0, 0.50], np.float32)
    rest = np.zeros(10, bool)
    rest[2:8] = True  # a pause inside speech
    out = rest_mouth(speaking, rest, resting, lead_frames=3)
    assert np.allclose(out[2:5], resting)  # the pause rests ...
    ramp = out[4:9, 0]  # ... then opens in even steps toward the first spoken frame
    assert np.allclose(np.diff(ramp), ramp[1] - ramp[0]) and ramp[1] > ramp[0]
    assert np.allclose(out[:2], speaking[:2]) and np.allclose(out[8:], speaking[8:])


def test_a_short_pause_keeps_a_resting_frame_and_a_trailing_pause_is_not_ramped() -> None:
    speaking = np.full((8, 2), 0.3, np.float32)
    resting = np.zeros(2, np.float32)
    rest = np.array([0, 1, 1, 0, 0, 1, 1, 1], bool)
    out = rest_mouth(speaking, rest, resting, lead_frames=5)
    assert np.allclose(out[1], resting) and 0.0 < out[2, 0] < 0.3
    assert np.allclose(out[5:], resting)  # after the audio ends nothing follows


def test_long_pause_mask() -> None:
    gate = np.ones(100)
    gate[10:15] = 0.0  # 50 ms: a stop closure, not a pause
    gate[40:80] = 0.0  # 400 ms pause
    mask = long_pause_mask(gate, 0.3)
    assert not mask[10:15].any()
    assert mask[40:80].all() and mask.sum() == 40


def test_the_fit_shrinks_toward_the_prior_as_the_source_gets_shorter(speech_of_seconds) -> None:
    # A made-up speaker whose opening follows the rules' width column, which the opening prior
    # ignores: the further a fit moves from the prior, the more it trusted the source.
    rng = np.random.default_rng(6)
    distance = {}
    for seconds in (2.0, 5.0, 30.0):
        source = speech_of_seconds(seconds)
        n = int(source.duration_s * FPS)
        rel = frames_at(VisemeRulesModel().relative_track(source), n, FPS)
        measured = np.stack([0.05 + 0.05 * rel[:, 1] + 0.002 * rng.standard_normal(n), 0.5 + 0.01 * rel[:, 1]], axis=1)
        model = CalibratedMotionModel(cv_margin=10.0)  # keep every fit: this is about the ridge
        model.fit_speaker(source, measured, FPS)
        assert model.used_fit["opening"]
        distance[seconds] = float(np.linalg.norm(model._weights["opening"] - model._prior["opening"]))
    assert distance[2.0] < distance[5.0] < distance[30.0]


def test_a_one_frame_source_uses_the_general_model(source_and_dub) -> None:
    source, dub = source_and_dub
    model = CalibratedMotionModel()
    model.fit_speaker(source, np.array([[0.02, 0.48]]), FPS)
    assert not model.used_fit["opening"] and not model.used_fit["width"]
    out = model.predict(dub, int(dub.duration_s * FPS), FPS)
    assert np.isfinite(out).all()
    assert out[:, 0].std() > 0.01  # the mouth moves with the dub, in a typical speaker's range
    assert abs(np.median(out[:, 1]) - 0.48) < 0.03


def test_width_follows_the_speakers_own_opening_width_coupling(source_and_dub) -> None:
    """A speaker whose inner corners close in as the mouth opens: the coupled width does too."""
    source, dub = source_and_dub
    rng = np.random.default_rng(9)
    n_src, n_dub = int(source.duration_s * FPS), int(dub.duration_s * FPS)

    def narrowing_speaker(features: SpeechFeatures, n: int) -> np.ndarray:
        mouth = _speaker_mouth(features, n, rng)
        mouth[:, 1] = 0.52 - 0.3 * mouth[:, 0] + 0.002 * rng.standard_normal(n)
        return mouth

    measured, truth = narrowing_speaker(source, n_src), narrowing_speaker(dub, n_dub)
    width_r = {}
    for gain in (0.0, 4.0):
        model = CalibratedMotionModel(width_coupling=gain, cv_margin=-10.0)  # the prior's weights: rules_width
        model.fit_speaker(source, measured, FPS)
        assert model.coupling.correlation < -0.8
        out = model.predict(dub, n_dub, FPS)
        speaking = ~np.isclose(out[:, 0], model.speaker.rest_opening)
        width_r[gain] = np.corrcoef(out[speaking, 1], truth[speaking, 1])[0, 1]
    assert width_r[4.0] > width_r[0.0] + 0.2
    assert width_r[4.0] > 0.5
