from lipdub.config import PipelineConfig, RenderConfig
from lipdub.item_row import empty_row
from operators.segment import SegmentOperator, segment_bounds


def test_segment_bounds_cover_everything_evenly():
    bounds = segment_bounds(101, 25)
    assert bounds[0][0] == 0 and bounds[-1][1] == 101
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert max(b - a for a, b in bounds) <= 25
    assert segment_bounds(3, 100) == [(0, 3)]


def test_segment_operator_fans_out_with_unique_segment_files(tmp_path):
    config = PipelineConfig(work_root=str(tmp_path), render=RenderConfig(segment_seconds=1.0))
    row = empty_row(item_id="a", n_output_frames=60, fps_num=25, fps_den=1, work_dir=str(tmp_path / "items" / "a"))
    rows = SegmentOperator(config).run_row(row)
    assert [r["segment_index"] for r in rows] == [0, 1, 2]
    assert len({r["segment_uri"] for r in rows}) == 3
    assert sum(r["segment_stop"] - r["segment_start"] for r in rows) == 60
    assert all(r["segment_count"] == 3 for r in rows)
