from __future__ import annotations

import numpy as np
import pytest

from lipdub.errors import InputError
from models.motion import MotionModel, SpeakerRange, closed_mouth_width, smooth_track, spread_or_typical, valid_measured
from models.registry import default_motion_model
from models.viseme_rules import VisemeRulesModel


def test_default_model_follows_the_protocol() -> None:
    assert isinstance(default_motion_model(), MotionModel)
    assert isinstance(VisemeRulesModel(), MotionModel)


def test_speaker_range_maps_relative_units() -> None:
    rng = np.random.default_rng(0)
    measured = np.stack([0.02 + 0.1 * rng.random(200), 0.45 + 0.06 * rng.random(200)], axis=1)
    speaker = SpeakerRange.from_measured(measured, prior_frames=0)
    absolute = speaker.to_absolute(np.array([[0.0, 0.0], [1.0, 1.0], [1.0, -1.0]]))
    assert absolute[0, 0] == pytest.approx(np.percentile(measured[:, 0], 5))
    assert absolute[1, 0] == pytest.approx(np.percentile(measured[:, 0], 97))
    assert absolute[1, 1] > absolute[0, 1] > absolute[2, 1]
    clipped = speaker.clip(np.array([[1.0, 2.0], [-1.0, 0.0]]))
    assert clipped[0, 0] <= speaker.high_opening + 0.1 * speaker.open_span + 1e-6
    assert clipped[1, 0] >= 0.0
    assert speaker.low_width - 0.1 * speaker.width_span - 1e-6 <= clipped[1, 1]


def test_valid_measured_drops_missing_frames_and_rejects_bad_shapes() -> None:
    measured = np.array([[0.1, 0.5], [np.nan, np.nan], [0.2, 0.5], [0.05, 0.4]])
    values, rows = valid_measured(measured)
    assert rows.tolist() == [0, 2, 3]
    assert values.shape == (3, 2)
    with pytest.raises(InputError):
        valid_measured(np.zeros((10, 3)))
    with pytest.raises(InputError, match="no frame with a measured mouth"):
        valid_measured(np.full((10, 2), np.nan))
    values, rows = valid_measured(np.array([[np.nan, np.nan], [0.04, 0.52]]))  # one frame is enough
    assert rows.tolist() == [1]


def test_a_one_frame_source_gets_the_typical_range_around_its_own_mouth() -> None:
    typical = SpeakerRange.typical()
    speaker = SpeakerRange.from_measured(np.array([[0.03, 0.52]]))
    # Not a frozen mouth (a one-frame percentile span is 0): nearly the typical spans ...
    assert speaker.open_span == pytest.approx(typical.open_span, rel=0.05)
    assert speaker.width_span == pytest.approx(typical.width_span, rel=0.05)
    # ... placed at this face's own mouth width.
    assert speaker.rest_width == pytest.approx(0.52, abs=0.005)
    assert speaker.low_width < 0.52 < speaker.high_width


def test_the_range_leans_on_the_typical_one_less_as_the_source_grows() -> None:
    rng = np.random.default_rng(4)
    def measured(n: int) -> np.ndarray:
        return np.stack([0.05 + 0.3 * rng.random(n), 0.40 + 0.02 * rng.random(n)], axis=1)
    spans = [SpeakerRange.from_measured(measured(n)).open_span for n in (1, 50, 125, 750)]
    own = SpeakerRange.from_measured(measured(750), prior_frames=0).open_span
    typical = SpeakerRange.typical().open_span
    # The measured speaker opens wider than typical: each longer source gets closer to its own span.
    assert spans[0] == pytest.approx(typical, rel=0.05)
    assert typical < spans[1] < spans[2] < spans[3] <= own + 0.01
    assert abs(spans[3] - own) < 0.05 * own


def test_the_resting_width_is_the_closed_mouths_width() -> None:
    # A speaker whose inner corners spread as the lips close: closed (opening near 0) is the
    # widest the mouth gets, so the width's 40th percentile would rest pauses far too narrow.
    rng = np.random.default_rng(6)
    opening = rng.uniform(0.0, 0.3, 400)
    width = 0.55 - 0.4 * opening + rng.normal(0.0, 0.003, 400)
    closed = width[opening <= np.percentile(opening, 10)]
    assert closed_mouth_width(opening, width) == pytest.approx(np.median(closed))
    speaker = SpeakerRange.from_measured(np.stack([opening, width], axis=1), prior_frames=0)
    assert speaker.rest_width == pytest.approx(np.median(closed))
    assert speaker.rest_width > np.percentile(width, 80)


def test_too_few_closed_frames_fall_back_to_a_width_percentile() -> None:
    opening, width = np.array([0.1, 0.2]), np.array([0.5, 0.4])
    assert closed_mouth_width(opening, width) == pytest.approx(np.percentile(width, 40))


def test_smoothing_spreads_a_one_frame_spike_over_its_neighbours_and_keeps_steps() -> None:
    spike = np.zeros((9, 2))
    spike[4] = [1.0, -1.0]
    out = smooth_track(spike, 3)
    assert np.allclose(out[3:6, 0], [0.25, 0.5, 0.25]) and np.allclose(out[3:6, 1], [-0.25, -0.5, -0.25])
    assert np.allclose(out.sum(axis=0), spike.sum(axis=0))  # nothing gained or lost
    step = np.repeat([[0.0], [1.0]], 5, axis=0)
    assert np.allclose(smooth_track(step, 3)[[0, -1]], [[0.0], [1.0]])  # edges held
    assert np.allclose(smooth_track(spike, 1), spike)  # one tap: unchanged


def test_a_spread_needs_enough_frames_to_be_measured() -> None:
    assert spread_or_typical(np.array([0.5]), typical=0.02) == 0.02
    values = np.random.default_rng(5).normal(0.0, 0.1, 100)
    assert spread_or_typical(values, typical=0.02) == pytest.approx(values.std())


def test_width_coupling_carries_the_speakers_own_sign_and_shrinks_on_short_sources() -> None:
    from models.motion import WidthCoupling

    rng = np.random.default_rng(7)
    opening = rng.random(500)
    widening = np.stack([opening, 0.4 + 0.1 * opening + 0.01 * rng.random(500)], axis=1)
    narrowing = np.stack([opening, 0.5 - 0.1 * opening + 0.01 * rng.random(500)], axis=1)
    assert WidthCoupling.from_measured(widening).correlation > 0.75
    assert WidthCoupling.from_measured(narrowing).correlation < -0.75
    # Shorter sources keep less of the same coupling; too few frames keep none.
    lengths = [WidthCoupling.from_measured(widening[:n]).correlation for n in (500, 125, 30)]
    assert lengths[0] > lengths[1] > lengths[2] > 0
    assert WidthCoupling.from_measured(widening[:5]).correlation == 0.0
    assert WidthCoupling.from_measured(np.stack([opening, np.full(500, 0.5)], axis=1)).correlation == 0.0


def test_width_coupling_moves_width_toward_the_coupled_opening() -> None:
    from models.motion import WidthCoupling, standardize

    rng = np.random.default_rng(8)
    targets = standardize(rng.normal(size=(300, 2)))
    coupling = WidthCoupling(-0.8)
    assert np.array_equal(coupling.apply(targets, 0.0), targets)
    assert np.array_equal(WidthCoupling(0.0).apply(targets, 4.0), targets)
    r = [np.corrcoef(coupling.apply(targets, gain)[:, 1], targets[:, 0])[0, 1] for gain in (0.5, 2.0, 8.0)]
    assert 0 > r[0] > r[1] > r[2] > -1.0  # more gain: width follows the (negated) opening more
    coupled = coupling.apply(targets, 2.0)
    assert np.array_equal(coupled[:, 0], targets[:, 0])
    assert coupled[:, 1].mean() == pytest.approx(0.0, abs=1e-9) and coupled[:, 1].std() == pytest.approx(1.0, abs=1e-3)
