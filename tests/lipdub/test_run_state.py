import os

from lipdub.config import EncodeConfig, PipelineConfig
from lipdub.item_row import empty_row
from lipdub.results import ResultsWriter
from lipdub.run_state import item_fingerprint, plan_run, read_previous_results


def _inputs(tmp_path, name):
    video, audio, output = tmp_path / f"{name}.mp4", tmp_path / f"{name}.wav", tmp_path / "out" / f"{name}.mp4"
    video.write_bytes(b"video " + name.encode())
    audio.write_bytes(b"audio " + name.encode())
    return empty_row(item_id=name, video_uri=str(video), audio_uri=str(audio), language="de", output_uri=str(output))


def _record(state, rows, status="ok"):
    """Record earlier results the way a run does, writing the outputs of ok rows."""
    writer = ResultsWriter(state, "run-earlier", flush_rows=1)
    for row in rows:
        if status == "ok":
            os.makedirs(os.path.dirname(row["output_uri"]), exist_ok=True)
            open(row["output_uri"], "wb").write(b"output")
        writer.add(dict(row, status=status, error=None if status == "ok" else "boom"))
    writer.close(catalog_uri="c", pending=[], wall_seconds=1.0, plan_reasons={})


def test_first_run_runs_everything(tmp_path):
    rows = [_inputs(tmp_path, "a"), _inputs(tmp_path, "b")]
    plan = plan_run(rows, PipelineConfig(), str(tmp_path / "state"))
    assert plan.reasons == {"new": 2} and len(plan.to_run) == 2
    assert all(row["output_fingerprint"] for row in plan.to_run)


def test_finished_items_are_skipped_and_changed_ones_rerun(tmp_path):
    config, state = PipelineConfig(), str(tmp_path / "state")
    rows = [_inputs(tmp_path, name) for name in "abcd"]
    first = plan_run(rows, config, state)
    _record(state, first.to_run)
    assert len(read_previous_results(state)) == 4

    # b's dub changes, c's output disappears, d's settings are the same: only b and c run.
    (tmp_path / "b.wav").write_bytes(b"a different dub")
    os.remove(rows[2]["output_uri"])
    plan = plan_run([_inputs_like(row) for row in rows], config, state)
    assert plan.reasons == {"unchanged": 2, "changed": 1, "output_missing": 1}
    assert sorted(row["item_id"] for row in plan.to_run) == ["b", "c"]
    assert {row["status"] for row in plan.skipped} == {"skipped"}

    # Other encode settings change every output: everything reruns; --force too.
    other = PipelineConfig(encode=EncodeConfig(crf=12))
    assert plan_run([_inputs_like(row) for row in rows], other, state).reasons == {"changed": 4}
    assert plan_run([_inputs_like(row) for row in rows], config, state, force=True).reasons == {"forced": 4}


def _inputs_like(row):
    return empty_row(**{k: row[k] for k in ("item_id", "video_uri", "audio_uri", "language", "output_uri")})


def test_failed_items_are_retried(tmp_path):
    state = str(tmp_path / "state")
    rows = [_inputs(tmp_path, "a")]
    _record(state, plan_run(rows, PipelineConfig(), state).to_run, status="failed")
    assert plan_run([_inputs_like(rows[0])], PipelineConfig(), state).reasons == {"retry": 1}


def test_missing_input_fails_only_that_item(tmp_path):
    rows = [_inputs(tmp_path, "a"), empty_row(item_id="gone", video_uri=str(tmp_path / "no.mp4"), audio_uri=str(tmp_path / "a.wav"), language="de", output_uri="/o.mp4")]
    plan = plan_run(rows, PipelineConfig(), str(tmp_path / "state"))
    assert [row["item_id"] for row in plan.to_run] == ["a"]
    (bad,) = plan.failed_early
    assert bad["status"] == "failed" and bad["failed_stage"] == "catalog" and bad["error"] == f"{tmp_path / 'no.mp4'}: file does not exist"


def test_fingerprint_follows_inputs_options_and_settings(tmp_path):
    row = _inputs(tmp_path, "a")
    base = item_fingerprint(row, PipelineConfig())
    assert item_fingerprint(dict(row), PipelineConfig()) == base
    assert item_fingerprint(dict(row, sync_mode="loop"), PipelineConfig()) != base
    assert item_fingerprint(row, PipelineConfig(motion_model="rules")) != base
    # Resources and the work store do not change outputs.
    assert item_fingerprint(row, PipelineConfig(work_root=str(tmp_path / "elsewhere"))) == base


def test_newest_result_wins(tmp_path):
    state = str(tmp_path / "state")
    row = plan_run([_inputs(tmp_path, "a")], PipelineConfig(), state).to_run[0]
    _record(state, [row], status="failed")
    writer = ResultsWriter(state, "run-later", flush_rows=1)
    writer.add(dict(row, status="ok"))
    writer.close(catalog_uri="c", pending=[], wall_seconds=1.0, plan_reasons={})
    assert read_previous_results(state)["a"]["status"] == "ok"


def test_an_unrecorded_output_that_carries_the_fingerprint_is_recognised(tmp_path):
    from fractions import Fraction

    import numpy as np

    from lipdub.media.mux import mux_segments
    from lipdub.media.video_writer import VideoWriter
    from operators.assemble import output_tags

    state = str(tmp_path / "state")
    (row,) = plan_run([_inputs(tmp_path, "a")], PipelineConfig(), state).to_run
    segment = str(tmp_path / "segment.mp4")
    with VideoWriter(segment, 32, 32, Fraction(25)) as writer:
        for _ in range(5):
            writer.write(np.zeros((32, 32, 3), np.uint8))
    os.makedirs(os.path.dirname(row["output_uri"]), exist_ok=True)
    mux_segments([segment], np.zeros(8000, np.float32), 16000, row["output_uri"], metadata=output_tags(row))

    plan = plan_run([_inputs_like(row)], PipelineConfig(), state)
    assert plan.reasons == {"recovered": 1} and plan.skipped[0]["status"] == "skipped"
    # With other settings the same file is not this item's output any more.
    assert plan_run([_inputs_like(row)], PipelineConfig(motion_model="rules"), state).reasons == {"new": 1}


def test_a_run_whose_driver_was_killed_still_counts_and_is_named(tmp_path, caplog):
    from tests.killed_driver import kill_driver_after_recording

    config, state = PipelineConfig(), str(tmp_path / "state")
    rows = plan_run([_inputs(tmp_path, name) for name in "abcd"], config, state).to_run
    for row in rows[:2]:  # a and b finished, with their outputs written
        os.makedirs(os.path.dirname(row["output_uri"]), exist_ok=True)
        open(row["output_uri"], "wb").write(b"output")
    recorded = [dict(rows[0], status="ok"), dict(rows[1], status="ok"), dict(rows[2], status="failed", failed_stage="render", error="boom")]
    kill_driver_after_recording(state, "nightly-killed", recorded)  # d was never reached

    with caplog.at_level("WARNING", logger="lipdub.run_state"):
        plan = plan_run([_inputs_like(row) for row in rows], config, state)
    assert plan.reasons == {"unchanged": 2, "retry": 1, "new": 1}
    assert sorted(row["item_id"] for row in plan.skipped) == ["a", "b"]
    assert sorted(row["item_id"] for row in plan.to_run) == ["c", "d"]
    assert plan.unfinished_runs == ["nightly-killed"]
    (warning,) = [record.getMessage() for record in caplog.records if "did not finish" in record.getMessage()]
    assert "nightly-killed" in warning and "its 2 ok items count as done" in warning and "1 other recorded items" in warning

    # Once a later run finishes, the killed one is history: not named again.
    _record(state, [dict(rows[2])])
    assert plan_run([_inputs_like(row) for row in rows], config, state).unfinished_runs == []
