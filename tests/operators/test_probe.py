from fractions import Fraction

from lipdub.item_row import empty_row
from operators.probe import ProbeOperator


def test_probe_plans_the_timeline_and_fingerprints(probed_row, demo_inputs):
    assert probed_row["status"] == "pending"
    assert Fraction(probed_row["fps_num"], probed_row["fps_den"]) == 25
    assert probed_row["resolved_sync_mode"] == "bounce"  # the demo dub is longer than the video
    assert probed_row["n_output_frames"] == round(probed_row["dub_seconds"] * 25)
    assert len(probed_row["source_fingerprint"]) == 64
    assert probed_row["seconds_probe"] > 0


def test_probe_turns_bad_input_into_a_failed_row(stage_config, tmp_path, demo_inputs):
    row = empty_row(item_id="x", video_uri=str(tmp_path / "none.mp4"), audio_uri=str(demo_inputs[1]), output_uri=str(tmp_path / "o.mp4"))
    (out,) = ProbeOperator(stage_config).run_row(row)
    assert out["status"] == "failed" and out["failed_stage"] == "probe"
    # The same words as the catalog plan's for the same missing file (lipdub.errors.MissingInputError).
    assert out["error"] == _plan_error_for(row, stage_config) == f"{tmp_path / 'none.mp4'}: file does not exist"
    bad_mode = dict(row, video_uri=str(demo_inputs[0]), sync_mode="stretch")
    (out,) = ProbeOperator(stage_config).run_row(bad_mode)
    assert out["status"] == "failed" and "unknown sync mode" in out["error"]


def _plan_error_for(row, config) -> str:
    from lipdub.run_state import plan_run

    (failed,) = plan_run([dict(row)], config, config.work_root + "/plan-state").failed_early
    return failed["error"]
