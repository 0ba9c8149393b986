"""`lipdub estimate CATALOG`: a real catalog of real files, read from their headers."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from jobs.cli import app
from lipdub.media.probe import probe_audio, probe_video
from lipdub.timeline import plan_timeline

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def write_catalog(tmp_path: Path, source: Path, dub: Path) -> Path:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id,video_uri,audio_uri,language,sync_mode\n"
                       f"de,{source},{dub},de,\n"
                       f"fr,{source},{dub},fr,cut_off\n"
                       f"gone,{tmp_path / 'missing.mp4'},{dub},de,\n")
    return catalog


def test_estimate_on_this_machine(tmp_path, demo_inputs):
    source, dub = demo_inputs
    result = runner.invoke(app, ["estimate", str(write_catalog(tmp_path, source, dub)), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    video, audio = probe_video(source), probe_audio(dub)
    assert report["items"] == 2 and report["distinct_sources"] == 1
    assert [row["item_id"] for row in report["skipped"]] == ["gone"] and "does not exist" in report["skipped"][0]["error"]
    # The pipeline's own timeline rule, at the source's rate.
    planned = [plan_timeline(video.n_frames, float(video.fps), audio.duration_s, mode).n_frames for mode in (None, "cut_off")]
    assert report["output_frames"] == sum(planned)
    assert report["wall_seconds"] > 15 and report["node_types"]["local"]["node_hours"] > 0


def test_estimate_on_the_cluster_with_a_gpu_render(tmp_path, demo_inputs):
    source, dub = demo_inputs
    config = tmp_path / "gpu.yaml"
    config.write_text("resources:\n  render: {num_cpus: 1, num_gpus: 1}\n")
    result = runner.invoke(app, ["estimate", str(write_catalog(tmp_path, source, dub)), "--cluster", str(REPO / "ray_cluster.yaml"),
                                 "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "gpu_workers:" in result.output and "node-hours" in result.output
    assert "note: render asks for a GPU but no GPU rate was measured" in result.output
    assert "cannot run: gone" in result.output
