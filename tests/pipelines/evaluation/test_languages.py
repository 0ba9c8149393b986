from __future__ import annotations

import cv2
import numpy as np

from pipelines.evaluation.languages import _moments, write_language_sheet


def test_moments_are_picked_while_speaking_and_apart() -> None:
    opening = np.array([0.9, 0.1, 0.5, 0.8, 0.0, 0.7, np.nan, 0.2, 0.95, 0.3])
    speaking = np.array([False, True, True, True, True, True, True, True, True, True])
    opens, closes = _moments(opening, speaking, count=2, fps=10.0)  # 0.2 s apart = 2 frames
    assert opens == [3, 8]  # frame 0 is wider but silent; NaN frames never count
    assert closes == [1, 4]


def test_a_sheet_shows_the_output_mouth_against_the_dub(demo_inputs, tmp_path) -> None:
    source, dub = demo_inputs
    figures = write_language_sheet(source, dub, str(tmp_path / "sheet.png"), "demo", count=3)
    sheet = cv2.imread(figures["sheet"])
    assert sheet is not None and sheet.shape[0] > 160 and sheet.shape[1] >= 3 * 320
    assert len(figures["open_frames"]) == 3 and len(figures["closed_frames"]) == 3
    assert set(figures["open_frames"]).isdisjoint(figures["closed_frames"])
    assert -1.0 <= figures["opening_loudness_r_while_speaking"] <= 1.0
