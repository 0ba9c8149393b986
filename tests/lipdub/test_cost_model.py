"""The cost model behind `lipdub estimate`: work per stage, node types, wall time, node-hours."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from lipdub.config import PipelineConfig, StageResources
from lipdub.cost_model import ClusterShape, NodeType, StageRates, estimate_run

RATES = StageRates(per_frame={"analyze": 0.02, "listen": 0.01, "move": 0.002, "render": 0.06, "assemble": 0.001, "qa": 0.001, "probe": 0.0},
                   utilisation=1.0, source="test")
REPO = Path(__file__).resolve().parents[2]


def item(video: str, frames: int = 1500, fps: float = 25.0) -> dict:
    return {"video_uri": video, "source_frames": frames, "output_frames": frames, "output_seconds": frames / fps}


def test_a_source_is_analysed_once_for_all_its_dubs():
    report = estimate_run([item("a.mp4"), item("a.mp4"), item("b.mp4")], PipelineConfig(), ClusterShape.local(2), RATES)
    assert report["distinct_sources"] == 2 and report["output_minutes"] == pytest.approx(3.0)
    assert report["stages"]["analyze"]["frames"] == 3000  # two sources
    assert report["stages"]["render"]["frames"] == 4500  # three outputs
    assert report["stages"]["render"]["core_seconds"] == pytest.approx(4500 * 0.06)


def test_wall_time_and_node_hours_on_this_machine():
    report = estimate_run([item("a.mp4")], PipelineConfig(), ClusterShape.local(2), RATES)
    core_s = 1500 * (0.02 + 0.01 + 0.002 + 0.06 + 0.001 + 0.001)
    local = report["node_types"]["local"]
    assert local["core_seconds"] == pytest.approx(core_s)
    assert local["busy_s"] == pytest.approx(core_s / 2)  # two cores, fully used
    assert report["wall_seconds"] == pytest.approx(15.0 + core_s / 2)
    assert local["node_hours"] == pytest.approx(core_s / 2 / 3600)


def test_the_repository_cluster_sends_a_gpu_stage_to_the_gpu_pool():
    cluster = ClusterShape.from_ray_cluster_yaml(yaml.safe_load((REPO / "ray_cluster.yaml").read_text()))
    assert {t.name for t in cluster.node_types} == {"head", "cpu_workers", "gpu_workers"}
    config = PipelineConfig()
    cpu_only = estimate_run([item(f"{i}.mp4") for i in range(40)], config, cluster, RATES)
    assert cpu_only["node_types"]["gpu_workers"]["node_hours"] == 0  # no stage asks for a GPU: none starts
    resources = dict(config.resources, render=StageResources(num_cpus=1, num_gpus=1))
    with_gpu = estimate_run([item(f"{i}.mp4") for i in range(40)], replace(config, resources=resources), cluster, RATES)
    assert with_gpu["stages"]["render"]["node_types"] == ["gpu_workers"] and with_gpu["stages"]["render"]["gpu"]
    assert with_gpu["node_types"]["gpu_workers"]["node_hours"] > 0
    assert any("no GPU rate was measured" in note for note in with_gpu["notes"])
    # Nodes that start for the run stay until the idle timeout: that tail is paid.
    gpu = with_gpu["node_types"]["gpu_workers"]
    tail = gpu["nodes"] * cluster.idle_timeout_minutes / 60
    assert gpu["node_hours"] == pytest.approx(gpu["core_seconds"] / 8 / 3600 + tail)


def test_a_measured_gpu_rate_is_used_and_a_gpu_stage_without_gpus_is_refused():
    config = PipelineConfig()
    resources = dict(config.resources, render=StageResources(num_cpus=1, num_gpus=1))
    gpu_config = replace(config, resources=resources)
    cluster = ClusterShape([NodeType("cpu", 16, 0, 4), NodeType("gpu", 8, 1, 2)])
    fast = replace(RATES, gpu_per_frame={"render": 0.006})
    report = estimate_run([item("a.mp4")], gpu_config, cluster, fast)
    assert report["stages"]["render"]["core_seconds"] == pytest.approx(1500 * 0.006) and not report["notes"]
    with pytest.raises(ValueError, match="asks a GPU for render"):
        estimate_run([item("a.mp4")], gpu_config, ClusterShape.local(2), RATES)
