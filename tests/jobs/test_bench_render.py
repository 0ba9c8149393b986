import json

import pytest
from typer.testing import CliRunner

from jobs.cli import app

pytestmark = pytest.mark.long  # renders a short clip three ways (about a minute here)


def test_bench_render_times_every_compositor_on_the_same_plan(tmp_path):
    result = CliRunner().invoke(app, ["bench-render", "--seconds", "4", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    # The output follows the dub's length: 100 frames with ../shared's dub, a few more with the
    # project's own synthetic one (a clean clone has no ../shared).
    assert 95 <= report["frames"] <= 125
    assert {"opencv-cpu", "torch-cpu"} <= set(report["variants"])
    for figures in report["variants"].values():
        assert figures["composite_fps"] > 0 and figures["stage_fps"] > 0
        # The compositor is one part of the stage (decode, QA measurement and encode are the rest).
        assert figures["composite_fps"] > figures["stage_fps"]
    assert report["variants"]["opencv-cpu"]["composite_vs_opencv"] == 1.0
    # The torch variants wrote segments (the stage is timed on real output).
    assert (tmp_path / "segment-torch-cpu.mp4").stat().st_size > 0
