from pathlib import Path

from jobs.bench_catalog import _figures, cache_catalog_rows
from pipelines.evaluation.shared_media import shared_catalog_rows


def test_shared_catalog_rows_point_at_real_files(shared_media):
    rows = shared_catalog_rows(shared_media)
    assert len(rows) == len({row["item_id"] for row in rows}) > 0
    for row in rows + cache_catalog_rows(shared_media):
        assert Path(row["video_uri"]).is_file() and Path(row["audio_uri"]).is_file()


def test_figures_count_work_and_wall_time():
    summary = {
        "items": 3, "ok": 2, "failed": 1, "output_frames": 500, "process_wall_seconds": 50.0, "analyses_from_cache": 1,
        "stage_share": {"render": 0.5}, "stage_seconds": {"render": 20.0, "analyze": 20.0},
    }
    figures = _figures(summary)
    assert figures["output_fps"] == 10.0 and figures["items_per_hour"] == 216.0
    assert figures["stage_seconds_total"] == 40.0 and figures["analyze_seconds"] == 20.0
