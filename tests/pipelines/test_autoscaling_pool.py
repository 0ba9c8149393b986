"""The GPU pool grows and shrinks (issue 22): Ray's fake multi-node autoscaler with the node types of
ray_cluster.yaml, on this machine.

The head is started with ``ray start --autoscaling-config`` and Ray's ``fake_multinode`` provider:
worker "nodes" are raylets on this machine, started and stopped by the real autoscaler as demand
comes and goes; GPUs are a declared resource (no device). The node types are ray_cluster.yaml's:
same names, same GPU counts and pool limits, CPUs capped at 2 each (this machine has 2), the idle
timeout shortened to 15 s (10 minutes in the cluster file). In one child process (a driver, as
`ray job submit` runs one) the demo item is dubbed twice:

1. with the default config, no stage asks for a GPU: no GPU node may start;
2. with render asking for one: the autoscaler starts a gpu_workers node (woken by the pipeline:
   Ray Data alone submits no task a cluster has no room for), every render segment runs there
   (the results' placements say so), and after the idle timeout the node goes away. A GPU node
   that idles out before the render's turn comes (the analysis takes longer than 15 s here) is
   woken again.

Every process of this cluster carries a private ``RAY_TMPDIR`` and is stopped by it afterwards.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.ray_processes import stop_processes_with_env

REPO = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_S = 420  # a hang detector: two short dubs and an idle timeout take ~3 minutes here
IDLE_TIMEOUT_MINUTES = 0.25
MAX_CPUS_PER_NODE = 2

pytestmark = [
    pytest.mark.slow,
    pytest.mark.long,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds its Ray processes through /proc"),
]


def fake_cluster_config(cluster_file: Path, port: int) -> dict:
    """ray_cluster.yaml's node types for the fake provider (the head type renamed as it requires)."""
    real = yaml.safe_load(cluster_file.read_text())
    types = {}
    for name, spec in real["available_node_types"].items():
        resources = dict(spec.get("resources") or {})
        resources["CPU"] = min(float(resources.get("CPU", 1)), MAX_CPUS_PER_NODE)
        if name == real["head_node_type"]:
            types["ray.head.default"] = {"resources": resources, "node_config": {}, "max_workers": 0}
        else:
            types[name] = {"resources": resources, "node_config": {}, "min_workers": int(spec.get("min_workers", 0)),
                           "max_workers": min(int(spec.get("max_workers", 1)), 2)}
    return {
        "cluster_name": "lipdub-fake", "max_workers": 4, "upscaling_speed": 1.0,
        "idle_timeout_minutes": IDLE_TIMEOUT_MINUTES,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": f"127.0.0.1:{port}"},
        "auth": {"ssh_user": "ubuntu"}, "available_node_types": types, "head_node_type": "ray.head.default",
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False, "rsync_exclude": [],
        "rsync_filter": [], "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fake_cluster(tmp_path):
    """A head with the fake autoscaler on 127.0.0.1; yields (address, environment)."""
    temp = tempfile.mkdtemp(prefix="lipdub-as-", dir="/tmp")  # short: unix socket paths < 108 bytes
    port = free_port()
    config = tmp_path / "fake_cluster.yaml"
    config.write_text(yaml.safe_dump(fake_cluster_config(REPO / "ray_cluster.yaml", port)))
    env = dict(os.environ, RAY_TMPDIR=temp, RAY_FAKE_CLUSTER="1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
               RAY_AUTH_MODE="disabled", AUTOSCALER_UPDATE_INTERVAL_S="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.pop("RAY_ADDRESS", None)
    ray_cli = str(Path(sys.executable).with_name("ray"))
    try:
        started = subprocess.run(
            [ray_cli, "start", "--head", f"--port={port}", f"--num-cpus={MAX_CPUS_PER_NODE}", "--include-dashboard=false",
             "--node-ip-address=127.0.0.1", f"--autoscaling-config={config}", "--object-store-memory=200000000"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"127.0.0.1:{port}", env
    finally:
        stop_processes_with_env("RAY_TMPDIR", temp)
        shutil.rmtree(temp, ignore_errors=True)


def test_the_gpu_pool_starts_for_a_gpu_render_and_goes_away_when_idle(tmp_path, demo_inputs, fake_cluster):
    address, env = fake_cluster
    source, dub = demo_inputs
    request = {"address": address, "work_root": str(tmp_path / "work"),
               "rows": [{"item_id": name, "video_uri": str(source), "audio_uri": str(dub), "output_uri": str(tmp_path / f"{name}.mp4")}
                        for name in ("cpu_only", "gpu_render")]}
    request_path, report_path = tmp_path / "request.json", tmp_path / "report.json"
    request_path.write_text(json.dumps(request))
    child = subprocess.Popen([sys.executable, __file__, str(request_path), str(report_path)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = child.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        output, _ = child.communicate(timeout=30)
        pytest.fail(f"the autoscaling run took over {CHILD_TIMEOUT_S} s:\n{output[-4000:]}")
    assert child.returncode == 0, output[-4000:]
    report = json.loads(report_path.read_text())
    (report_path.parent / "autoscaling_report.json").write_text(json.dumps(report, indent=2))

    cpu_only, gpu_render = report["runs"]
    # 1. Nothing asked for a GPU: no GPU node ever came up.
    assert cpu_only["row"]["status"] == "ok", cpu_only["row"]["error"]
    assert cpu_only["gpu_nodes_seen"] == []
    # 2. Render asked for one: a gpu_workers node started, and every render segment ran on one.
    assert gpu_render["row"]["status"] == "ok", gpu_render["row"]["error"]
    assert gpu_render["gpu_nodes_seen"], "no GPU node started"
    placements = json.loads(gpu_render["row"]["placements"])
    assert placements["render"] and set(placements["render"]) <= set(gpu_render["gpu_nodes_seen"]), (placements, gpu_render)
    assert gpu_render["first_gpu_node_s"] is not None and gpu_render["first_gpu_node_s"] < 120
    # 3. Idle, the pool shrank back to no GPU node.
    assert report["gpu_nodes_after_idle"] == 0, report
    assert report["idle_release_s"] < 120


def _gpu_nodes() -> set[str]:
    import ray

    return {node["NodeID"] for node in ray.nodes() if node["Alive"] and node["Resources"].get("GPU", 0) > 0}


def run_on_fake_cluster(request_path: str, report_path: str) -> None:
    """Child process: dub one item per config on the autoscaling cluster, watching its GPU nodes."""
    from lipdub.config import config_from_mapping
    from pipelines.dub_pipeline import run_items
    from pipelines.ray_adapter import ensure_ray

    request = json.loads(Path(request_path).read_text())
    ensure_ray(request["address"])
    configs = [{"work_root": request["work_root"]},
               {"work_root": request["work_root"], "resources": {"render": {"num_cpus": 1, "num_gpus": 1}}}]
    runs = []
    for row, mapping in zip(request["rows"], configs):
        seen: set[str] = set()
        first: list[float] = []
        done = threading.Event()
        started = time.monotonic()

        def watch() -> None:
            while not done.is_set():
                nodes = _gpu_nodes()
                if nodes and not first:
                    first.append(time.monotonic() - started)
                seen.update(nodes)
                done.wait(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            (result,) = run_items([row], config_from_mapping(mapping))
        finally:
            done.set()
            watcher.join()
        seen.update(_gpu_nodes())
        keep = ("item_id", "status", "error", "failed_stage", "placements")
        runs.append({"row": {name: result.get(name) for name in keep}, "gpu_nodes_seen": sorted(seen),
                     "first_gpu_node_s": first[0] if first else None, "seconds": time.monotonic() - started})
    idle_started = time.monotonic()
    while _gpu_nodes() and time.monotonic() - idle_started < 150:
        time.sleep(1)
    report = {"runs": runs, "gpu_nodes_after_idle": len(_gpu_nodes()), "idle_release_s": time.monotonic() - idle_started}
    Path(report_path).write_text(json.dumps(report))


if __name__ == "__main__":
    run_on_fake_cluster(sys.argv[1], sys.argv[2])
