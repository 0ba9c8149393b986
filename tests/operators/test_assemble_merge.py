import json

from lipdub.item_row import empty_row
from operators.assemble import merge_segment_rows


def _segment(index, count=2, **extra):
    return empty_row(item_id="a", segment_index=index, segment_count=count, segment_uri=f"/w/{index}.mp4", seconds_render=1.5, cpu_seconds_render=1.25, **extra)


def test_merge_orders_segments_and_sums_render_time():
    merged = merge_segment_rows([_segment(1), _segment(0)])
    assert json.loads(merged["segment_uris"]) == ["/w/0.mp4", "/w/1.mp4"]
    assert merged["seconds_render"] == 3.0 and merged["cpu_seconds_render"] == 2.5
    assert merged["segment_index"] is None


def test_a_failed_segment_fails_the_item():
    failed = _segment(1, status="failed", error="decode error", failed_stage="render")
    merged = merge_segment_rows([_segment(0), failed])
    assert merged["status"] == "failed" and merged["error"] == "decode error"


def test_a_missing_segment_fails_the_item():
    merged = merge_segment_rows([_segment(0, count=3), _segment(1, count=3)])
    assert merged["status"] == "failed" and "2 of 3" in merged["error"]
