from __future__ import annotations

import numpy as np
import pytest

from lipdub.audio.features import SpeechFeatures
from lipdub.audio.phonemes import PhoneSegment
from pipelines.evaluation.speech_parts import join_speech, slice_speech


def _speech(seconds: float, value: float, rows: int | None = None) -> SpeechFeatures:
    n = rows if rows is not None else int(round(seconds * 100))
    return SpeechFeatures(np.full((n, 80), value), np.full(n, value), np.full(n, value),
                          [PhoneSegment("AA", 0.1, 0.3)], seconds)


def test_join_keeps_each_part_at_its_own_time() -> None:
    # The first part has two rows fewer than its duration (analysis rounding): padded, so the second
    # part's rows and phones still start at 1.0 s.
    joined = join_speech([_speech(1.0, 1.0, rows=98), _speech(0.5, 2.0)])
    assert joined.duration_s == pytest.approx(1.5)
    assert joined.n_frames == 150
    assert np.all(joined.loudness_db[:100] == 1.0) and np.all(joined.loudness_db[100:] == 2.0)
    assert [(p.start_s, p.end_s) for p in joined.phones] == [(0.1, 0.3), (pytest.approx(1.1), pytest.approx(1.3))]


def test_slice_retimes_phones_to_its_start() -> None:
    part = slice_speech(join_speech([_speech(1.0, 1.0), _speech(1.0, 2.0)]), 0.9, 1.5)
    assert part.n_frames == 60 and part.duration_s == pytest.approx(0.6)
    assert np.all(part.loudness_db[:10] == 1.0) and np.all(part.loudness_db[10:] == 2.0)
    assert [(round(p.start_s, 6), round(p.end_s, 6)) for p in part.phones] == [(0.2, 0.4)]
