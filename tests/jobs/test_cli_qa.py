"""`lipdub qa` and `lipdub report` as a user runs them (typer's runner, real files)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from jobs.cli import app
from lipdub.audio.features import SAMPLE_RATE
from lipdub.media.audio_io import load_audio
from lipdub.media.mux import mux_segments
from tests.lipdub.report.run_fixtures import build_run

runner = CliRunner()


def test_qa_json_flags_an_untouched_source_with_a_new_dub(demo_inputs, tmp_path):
    source, dub = demo_inputs
    untouched = tmp_path / "untouched.mp4"
    mux_segments([str(source)], load_audio(str(dub), sample_rate=SAMPLE_RATE), SAMPLE_RATE, str(untouched))
    result = runner.invoke(app, ["qa", str(untouched), "--source", str(source), "--dub", str(dub), "--sync-mode", "cut_off", "--json"])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    report = json.loads(lines[-1])  # one JSON object: strict JSON (no NaN), figures + verdict
    assert report["needs_review"] is True and report["reasons"]
    assert {"sync_corr", "av_offset_frames", "seam_score", "flicker_ratio", "outside_psnr_db", "source_sync_corr"} <= set(report)
    assert report["outside_psnr_db"] is None  # identical picture: infinite PSNR, written as null


def test_qa_with_a_missing_output_exits_2_with_one_line(demo_inputs, tmp_path):
    source, dub = demo_inputs
    result = runner.invoke(app, ["qa", str(tmp_path / "nope.mp4"), "--source", str(source), "--dub", str(dub)])
    assert result.exit_code == 2
    assert "nope.mp4" in result.output


def test_report_command_writes_the_page(tmp_path):
    build_run(str(tmp_path / "runs" / "run-1"), str(tmp_path / "work"))
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(tmp_path / "runs" / "run-1"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["out_uri"] == str(out) and out.stat().st_size > 0


def test_dub_says_the_gates_verdict(demo_inputs, tmp_path, ray_local):
    source, dub = demo_inputs
    output = tmp_path / "dubbed.mp4"
    result = runner.invoke(app, ["dub", "--video", str(source), "--audio", str(dub), "--output", str(output),
                                 "--work-root", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    verdict = [line for line in result.stdout.splitlines() if line.startswith("QA: ")]
    assert verdict and ("passes" in verdict[0] or "needs review" in verdict[0]), result.stdout
