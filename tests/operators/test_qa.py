import json

from operators.qa import QAOperator, structural_review_reasons
from fractions import Fraction


def test_qa_passes_a_good_output(stage_config, assembled_row):
    (row,) = QAOperator(stage_config).run_row(assembled_row)
    assert row["needs_review"] is False, row["review_reasons"]
    assert json.loads(row["review_reasons"]) == []


def test_qa_flags_structural_problems():
    row = {"n_output_frames": 100, "fps_num": 25, "fps_den": 1, "edited_frames": 10}
    reasons = structural_review_reasons(row, 90, Fraction(30), has_audio=False)
    assert len(reasons) == 4
