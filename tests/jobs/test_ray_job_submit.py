"""The catalog job as a cluster runs it: ``ray start --head``, then ``ray job submit --working-dir``.

What this checks beyond the in-process tests: the job's entry point (``python -m jobs.dub_catalog``)
runs from the uploaded working dir on a Ray started with the ``ray`` command, joins that cluster
through ``RAY_ADDRESS``, and writes a playable output and a results manifest.

The head is private to this test: its own temp root (``--temp-dir``, and ``RAY_TMPDIR`` so nothing
lands in /tmp/ray, where the "current cluster" file would make a plain ``ray.init()`` elsewhere on
the machine join it), free ports for everything that has a fixed default, loopback only. ``ray
stop`` would stop every Ray on the machine, so the fixture stops only the processes carrying its
``RAY_TMPDIR`` (``ray start`` daemonizes: they are not our children).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.ray_processes import stop_processes_with_env

from lipdub.catalog import write_catalog
from lipdub.media.probe import probe_video
from lipdub.results import read_results

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
RAY_CLI = VENV_BIN / "ray"
# Kept out of the upload even where .gitignore is not honoured (RAY_RUNTIME_ENV_IGNORE_GITIGNORE).
UPLOAD_EXCLUDES = [".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info"]
JOB_TIMEOUT_S = 240  # a hang detector: the job takes about a minute, more on a loaded machine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.long,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds its Ray processes through /proc"),
    pytest.mark.skipif(not RAY_CLI.exists(), reason=f"no ray command beside {sys.executable}"),
]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def ray_head():
    """A private ``ray start --head`` with the dashboard (the job server); yields (dashboard URL, env, temp root)."""
    root = tempfile.mkdtemp(prefix="lipdub-job-", dir="/tmp")  # short: unix socket paths < 108 bytes
    gcs_port, dashboard_port, client_port, agent_port = free_ports(4)
    env = dict(os.environ, RAY_TMPDIR=root, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled")
    # The job's `python` is the first on the raylet's PATH: make it this venv's.
    env["PATH"] = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])
    env.pop("RAY_ADDRESS", None)
    command = [
        str(RAY_CLI), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs_port}", "--num-cpus=4",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
        f"--ray-client-server-port={client_port}", f"--dashboard-agent-listen-port={agent_port}",
        "--min-worker-port=0", "--max-worker-port=0", f"--object-store-memory={300 * 1024 * 1024}",
        f"--temp-dir={root}/ray", "--disable-usage-stats",
    ]
    try:
        started = subprocess.run(command, check=False, env=env, cwd=REPO, capture_output=True, text=True, timeout=90)
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        yield f"http://127.0.0.1:{dashboard_port}", env, Path(root)
    finally:
        stop_processes_with_env("RAY_TMPDIR", root)
        shutil.rmtree(root, ignore_errors=True)


def test_catalog_job_submitted_with_its_working_dir(tmp_path, demo_inputs, ray_head):
    from ray.job_submission import JobStatus, JobSubmissionClient

    address, env, ray_root = ray_head
    source, dub = demo_inputs
    catalog, output_root = tmp_path / "catalog.parquet", tmp_path / "out"
    write_catalog([{"item_id": "clip-1", "video_uri": str(source), "audio_uri": str(dub), "language": "es"}], str(catalog))
    submission_id = f"lipdub-test-{uuid.uuid4().hex[:8]}"
    submit = [
        str(RAY_CLI), "job", "submit", "--address", address, "--submission-id", submission_id,
        "--working-dir", str(REPO), "--runtime-env-json", json.dumps({"excludes": UPLOAD_EXCLUDES}),
        "--", "python", "-m", "jobs.dub_catalog",
        "--catalog", str(catalog), "--output-root", str(output_root), "--work-root", str(tmp_path / "work"),
    ]  # fmt: skip
    try:
        submitted = subprocess.run(submit, check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the job took over {JOB_TIMEOUT_S} s:\n{(error.stdout or b'').decode(errors='replace')[-4000:]}")
    client = JobSubmissionClient(address)
    try:
        info = client.get_job_info(submission_id)
    except RuntimeError as error:  # never created: the submit's own output says why
        pytest.fail(f"no job {submission_id} ({error}):\n{submitted.stdout[-3000:]}\n{submitted.stderr[-3000:]}")
    logs = client.get_job_logs(submission_id)
    assert info.status == JobStatus.SUCCEEDED, f"{info.status}: {info.message}\n{logs[-4000:]}\n{submitted.stderr[-2000:]}"
    assert submitted.returncode == 0, submitted.stderr[-3000:]

    # The code came from the upload (with nothing of the venv in it), not from this checkout.
    assert info.runtime_env["working_dir"].startswith("gcs://"), info.runtime_env
    unpacked = [p for p in (ray_root / "ray").glob("session_*/runtime_resources/working_dir_files/*") if p.is_dir()]
    assert unpacked and all((p / "jobs" / "dub_catalog.py").is_file() and not (p / ".venv").exists() for p in unpacked), unpacked

    # The summary on stdout, the results manifest, and a playable output.
    assert '"ok": 1' in logs, logs[-4000:]
    latest = json.loads((output_root / "_lipdub" / "latest.json").read_text())
    [row] = read_results(latest["results_uri"])
    assert (row["item_id"], row["status"]) == ("clip-1", "ok"), row["error"]
    output = output_root / "es" / "clip-1.mp4"
    assert row["output_uri"] == str(output)
    video = probe_video(str(output))
    assert video.n_frames > 0 and video.has_audio
    assert video.display_size == probe_video(str(source)).display_size
