import json

import pytest

from lipdub.item_row import empty_row
from lipdub.results import ResultsWriter, read_results, summarize


def _row(item, status, **extra):
    return empty_row(item_id=item, status=status, **extra)


def test_parts_are_written_as_results_arrive(tmp_path):
    writer = ResultsWriter(str(tmp_path), "run-1", flush_rows=2)
    writer.add(_row("a", "ok"))
    assert not list((tmp_path / "runs" / "run-1").glob("part-*.parquet"))
    writer.add(_row("b", "failed", error="x"))
    assert len(list((tmp_path / "runs" / "run-1").glob("part-*.parquet"))) == 1


def test_close_marks_unfinished_items_pending(tmp_path):
    writer = ResultsWriter(str(tmp_path), "run-1")
    writer.add(_row("a", "ok", n_output_frames=250, seconds_render=3.0, seconds_analyze=1.0))
    writer.add(_row("s", "skipped"), record=False)
    summary = writer.close(catalog_uri="cat", pending=[_row("a", "pending"), _row("b", "pending")], wall_seconds=10.0, plan_reasons={"new": 2})
    rows = {row["item_id"]: row for row in read_results(summary.results_uri)}
    assert rows["a"]["status"] == "ok" and rows["s"]["status"] == "skipped"
    assert rows["b"]["status"] == "pending" and "rerun" in rows["b"]["error"]
    assert summary.interrupted and summary.pending == 1 and summary.ok == 1 and summary.skipped == 1
    saved = json.loads((tmp_path / "runs" / "run-1" / "summary.json").read_text())
    assert saved["output_frames"] == 250 and saved["stage_share"]["render"] == 0.75
    # Skipped rows are not part of the run's own records (they were recorded by the run that made them).
    parts = [row for path in (tmp_path / "runs" / "run-1").glob("part-*.parquet") for row in read_results(str(path))]
    assert [row["item_id"] for row in parts] == ["a"]


def test_summary_throughput_counts_only_work_done():
    rows = [
        _row("a", "ok", n_output_frames=100),
        _row("b", "failed", failed_stage="analyze", error="no face"),
        _row("c", "failed", failed_stage="catalog", error="bad row"),
        _row("d", "skipped", n_output_frames=999),
    ]
    summary = summarize(rows, run_id="r", catalog_uri="c", results_uri="u", wall_seconds=36.0)
    assert summary.output_frames == 100 and summary.output_fps == round(100 / 36, 2)
    assert summary.items_per_hour == 200.0  # a and b went through the pipeline
    assert summary.failures_by_stage == {"analyze": 1, "catalog": 1}


def test_a_run_whose_driver_was_killed_is_read_from_its_parts_and_flagged(tmp_path):
    from tests.killed_driver import kill_driver_after_recording

    rows = [_row("a", "ok", n_output_frames=25), _row("b", "failed", failed_stage="render", error="boom"), _row("c", "ok")]
    run = kill_driver_after_recording(str(tmp_path), "run-killed", rows)
    assert sorted(path.name for path in run.iterdir()) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]

    for uri in (str(run), str(run / "results.parquet")):  # the folder, or the manifest it should hold
        results = read_results(uri)
        assert not results.finished and results.parts == 3 and results.uri == str(run)
        assert [(row["item_id"], row["status"]) for row in results] == [("a", "ok"), ("b", "failed"), ("c", "ok")]
        assert results[1]["error"] == "boom" and results[0]["n_output_frames"] == 25 and results[0]["finished_at"]
        assert "did not finish" in results.note and str(run) in results.note

    single = read_results(str(run / "part-00001.parquet"))
    assert not single.finished and [row["item_id"] for row in single] == ["b"] and "one result part" in single.note


def test_a_finished_run_reads_as_finished(tmp_path):
    writer = ResultsWriter(str(tmp_path), "run-1")
    writer.add(_row("a", "ok"))
    summary = writer.close(catalog_uri="cat", pending=[], wall_seconds=1.0, plan_reasons={})
    for uri in (summary.results_uri, str(tmp_path / "runs" / "run-1")):
        results = read_results(uri)
        assert results.finished and results.note is None and [row["item_id"] for row in results] == ["a"]


def test_a_folder_without_records_is_an_error_that_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.parquet and no result parts"):
        read_results(str(tmp_path))
