from __future__ import annotations

import numpy as np
import pytest

from models.eval_motion_holdout import evaluate


@pytest.mark.media
def test_holdout_beats_naive_loudness_model(shared_media, tmp_path) -> None:
    """On three real clips, the default model follows the held-out mouth better than loudness."""
    scores = evaluate(shared_media / "clips", only=["real_01", "real_02", "real_03"], cache_dir=tmp_path)
    default = np.mean(scores["default"]["opening"])
    naive = np.mean(scores["loudness"]["opening"])
    assert len(scores["default"]["opening"]) == 3
    assert default > naive
    assert default > 0.35
