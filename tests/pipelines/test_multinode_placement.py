"""Stages pinned with custom resources run on the nodes that hold them, on a local multi-node Ray.

A head and two worker nodes (`ray.cluster_utils.Cluster`), one offering ``analysis_node`` and one
``render_node``; the config pins analyze/listen/move to the first and render/assemble to the
second, as a cluster config file would. The ``placements`` column of the result says where
each stage really ran.

The cluster runs in a child process (this file run as a script): Ray is one per process and the
session's embedded Ray (`ray_local`) may already be up in this one. The child gets its own Ray
temp dir through ``RAY_TMPDIR``, so its sessions and its "current cluster" address file stay out
of /tmp/ray (where a plain ``ray.init()`` elsewhere on the machine would find and join it).
Whatever the outcome, every process carrying that ``RAY_TMPDIR`` is stopped afterwards, and only
those.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.ray_processes import stop_processes_with_env

REPO = Path(__file__).resolve().parents[2]

# stage -> the custom resource that pins it (one worker node offers each resource).
PINNED_STAGES = {
    "analyze": "analysis_node",
    "listen": "analysis_node",
    "move": "analysis_node",
    "render": "render_node",
    "assemble": "render_node",
}
CHILD_TIMEOUT_S = 240  # a hang detector: the run takes about a minute, more on a loaded machine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.long,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds its Ray processes through /proc"),
]


@pytest.fixture
def ray_temp_dir():
    """A private Ray temp root (short: Ray's unix socket paths must stay under 108 bytes)."""
    folder = tempfile.mkdtemp(prefix="lipdub-mn-", dir="/tmp")
    yield folder
    stop_processes_with_env("RAY_TMPDIR", folder)
    shutil.rmtree(folder, ignore_errors=True)


def test_pinned_stages_run_on_the_nodes_holding_their_resource(tmp_path, demo_inputs, ray_temp_dir):
    source, dub = demo_inputs
    request = {
        "work_root": str(tmp_path / "work"),
        "rows": [{"item_id": "pinned", "video_uri": str(source), "audio_uri": str(dub), "output_uri": str(tmp_path / "pinned.mp4")}],
    }
    request_path, report_path = tmp_path / "request.json", tmp_path / "report.json"
    request_path.write_text(json.dumps(request))
    env = dict(os.environ, RAY_TMPDIR=ray_temp_dir, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.pop("RAY_ADDRESS", None)
    child = subprocess.Popen(
        [sys.executable, __file__, str(request_path), str(report_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        output, _ = child.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        stop_processes_with_env("RAY_TMPDIR", ray_temp_dir)  # nothing left holding the output pipe
        output, _ = child.communicate(timeout=30)
        pytest.fail(f"the cluster run took over {CHILD_TIMEOUT_S} s:\n{output[-4000:]}")
    assert child.returncode == 0, output[-4000:]

    report = json.loads(report_path.read_text())
    nodes: dict[str, dict[str, float]] = report["nodes"]  # node id -> its resources
    assert len(nodes) == 3, nodes
    holders = {resource: [node for node, resources in nodes.items() if resource in resources] for resource in set(PINNED_STAGES.values())}
    assert all(len(found) == 1 for found in holders.values()), holders
    [row] = report["results"]
    assert row["status"] == "ok", row["error"]
    assert Path(row["output_uri"]).is_file()
    placements: dict[str, list[str]] = json.loads(row["placements"])
    for stage, resource in PINNED_STAGES.items():
        assert placements.get(stage) == holders[resource], (stage, placements, holders)
    # The unpinned stages ran too, somewhere in this cluster.
    for stage in ("probe", "segment", "qa"):
        assert placements.get(stage) and set(placements[stage]) <= set(nodes), (stage, placements)


def run_on_cluster(request_path: str, report_path: str) -> None:
    """Child process: start the cluster, run the pipeline on it, write what ran where."""
    import ray
    from ray.cluster_utils import Cluster

    from lipdub.config import config_from_mapping
    from pipelines.dub_pipeline import run_items
    from pipelines.ray_adapter import ensure_ray

    request = json.loads(Path(request_path).read_text())
    # Small object stores: rows carry URIs, not media. Whole CPUs beyond the stages' fractional
    # requests keep each node's actor pools and tasks schedulable together.
    node_args = {"object_store_memory": 200 * 1024 * 1024, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False, **node_args})
    try:
        for resource in sorted(set(PINNED_STAGES.values())):
            cluster.add_node(num_cpus=3, resources={resource: 100}, **node_args)
        cluster.wait_for_nodes()
        ensure_ray(cluster.address)
        config = config_from_mapping(
            {
                "work_root": request["work_root"],
                "resources": {stage: {"custom_resources": {resource: 1}} for stage, resource in PINNED_STAGES.items()},
            }
        )
        results = run_items(request["rows"], config)
        nodes = {node["NodeID"]: node["Resources"] for node in ray.nodes() if node["Alive"]}
        keep = ("item_id", "status", "error", "failed_stage", "output_uri", "placements")
        report = {"nodes": nodes, "results": [{name: row.get(name) for name in keep} for row in results]}
        Path(report_path).write_text(json.dumps(report))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    run_on_cluster(sys.argv[1], sys.argv[2])
