import json

import pytest
from typer.testing import CliRunner

from jobs.cli import app

pytestmark = pytest.mark.long  # a cold dub, then a warm-up and the same clip through warm stages (~2 min here)


def test_bench_times_cold_and_warm_against_the_same_reencode(tmp_path):
    result = CliRunner().invoke(app, ["bench", "--seconds", "4", "--warm", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["frames"] == 100
    assert report["ratio"] == pytest.approx(report["pipeline_s"] / report["plain_reencode_s"])
    assert report["warm_ratio"] == pytest.approx(report["warm_s"] / report["plain_reencode_s"])
    # One execution served the warm-up and the timed clip; the timed clip was analysed afresh.
    assert report["executions"] == 1
    assert report["warm_analysis_cached"] is False and report["warm_stage_cpu_seconds"]["analyze"] > 0
    assert (tmp_path / "warm_dubbed.mp4").stat().st_size > 0 and (tmp_path / "warm_warmup.mp4").stat().st_size > 0
