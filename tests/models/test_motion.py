from __future__ import annotations

import numpy as np
import pytest

from lipdub.errors import InputError
from models.motion import MotionModel, SpeakerRange, valid_measured
from models.registry import default_motion_model
from models.viseme_rules import VisemeRulesModel


def test_default_model_follows_the_protocol() -> None:
    assert isinstance(default_motion_model(), MotionModel)
    assert isinstance(VisemeRulesModel(), MotionModel)


def test_speaker_range_maps_relative_units() -> None:
    rng = np.random.default_rng(0)
    measured = np.stack([0.02 + 0.1 * rng.random(200), 0.45 + 0.06 * rng.random(200)], axis=1)
    speaker = SpeakerRange.from_measured(measured)
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
    with pytest.raises(InputError):
        valid_measured(np.full((10, 2), np.nan))
