import json
import math

from lipdub.item_row import empty_row
from lipdub.report import fields


def test_numbers_blank_out_nulls_nan_and_text():
    assert fields.number(0.5) == 0.5 and fields.number(3) == 3.0
    assert fields.number(None) is None and fields.number(math.nan) is None and fields.number(math.inf) is None
    assert fields.number("x") is None and fields.number(True) is None
    assert fields.fixed(math.nan, 2) == fields.BLANK and fields.fixed(0.123, 2) == "0.12"
    assert fields.percent(0.981) == "98%"


def test_review_flag_and_reasons():
    assert fields.needs_review_label(empty_row(needs_review=True)) == "yes"
    assert fields.needs_review_label(empty_row(needs_review=False)) == "no"
    assert fields.needs_review_label(empty_row()) == "unknown"
    assert fields.review_reasons(empty_row(review_reasons=json.dumps(["a", "b"]))) == ["a", "b"]
    assert fields.review_reasons(empty_row(review_reasons="not json")) == ["not json"]
    assert fields.review_reasons(empty_row()) == []


def test_total_seconds_and_fps():
    assert fields.total_seconds(empty_row(seconds_probe=1.0, seconds_render=2.5)) == 3.5
    assert fields.total_seconds(empty_row()) is None
    assert fields.fps_of(empty_row(fps_num=30000, fps_den=1001)) == 30000 / 1001
    assert fields.fps_of(empty_row()) is None


def test_qa_figures_survive_bad_json():
    assert fields.qa_figures(empty_row(qa_figures='{"sync_corr": 0.5}')) == {"sync_corr": 0.5}
    assert list(fields.qa_figures(empty_row(qa_figures="{broken"))) == ["qa_figures (unparsable)"]
    assert fields.figure_text(0.123456) == "0.1235" and fields.figure_text([1, 2]) == "[1, 2]"


def test_times_read_as_utc_to_the_second():
    assert fields.when("2025-01-02T03:04:05.123456Z") == "2025-01-02 03:04:05 UTC"
    assert fields.when("yesterday") == "yesterday"
