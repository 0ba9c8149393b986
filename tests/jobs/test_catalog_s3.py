"""A catalog run entirely on S3 (a real S3-compatible server, moto, on 127.0.0.1): the catalog and
media are read from a bucket; outputs, run records and the work store are written back to it.
The job runs as a user runs it: ``python -m jobs.dub_catalog`` in its own process, with its own Ray."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lipdub.catalog import write_catalog
from lipdub.media.probe import probe_video
from lipdub.storage import filesystem_for

ROOT = Path(__file__).resolve().parents[2]


def _run_job(endpoint: str, *args: str) -> tuple[int, dict, str]:
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        LIPDUB_S3_ENDPOINT_URL=endpoint,
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="disabled",
        LIPDUB_NODE_CACHE=str(Path(os.environ.get("PYTEST_TMPDIR", "/tmp")) / f"lipdub-node-cache-{os.getpid()}"),
    )
    process = subprocess.run([sys.executable, "-m", "jobs.dub_catalog", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    start = process.stdout.find("{")
    summary = json.loads(process.stdout[start:]) if start >= 0 else {}
    return process.returncode, summary, process.stderr


@pytest.mark.long
def test_catalog_from_and_to_s3(s3_server, demo_inputs, tmp_path):
    fs = filesystem_for("s3://lipdub")
    source, dub = demo_inputs
    fs.put(str(source), "lipdub/media/source.mp4")
    fs.put(str(dub), "lipdub/media/dub-de.wav")
    write_catalog(
        [
            {"item_id": "clip-de", "video_uri": "s3://lipdub/media/source.mp4", "audio_uri": "s3://lipdub/media/dub-de.wav", "language": "de"},
            {"item_id": "nothing-there", "video_uri": "s3://lipdub/media/missing.mp4", "audio_uri": "s3://lipdub/media/dub-de.wav", "language": "de"},
        ],
        "s3://lipdub/catalogs/nightly/part-0.parquet",
    )
    args = ["--catalog", "s3://lipdub/catalogs/nightly/", "--output-root", "s3://lipdub/dubbed", "--work-root", "s3://lipdub/work"]

    code, summary, stderr = _run_job(s3_server, *args)
    assert code == 3, stderr[-3000:]  # finished, one item failed
    assert (summary["ok"], summary["failed"]) == (1, 1), stderr[-3000:]

    fs.invalidate_cache()
    with fs.open(summary["results_uri"], "rb") as handle:
        rows = {row["item_id"]: row for row in pq.read_table(handle).to_pylist()}
    assert rows["nothing-there"]["status"] == "failed" and "media/missing.mp4" in rows["nothing-there"]["error"]
    ok = rows["clip-de"]
    assert ok["status"] == "ok" and ok["output_uri"] == "s3://lipdub/dubbed/de/clip-de.mp4"
    local = tmp_path / "clip-de.mp4"
    fs.get(ok["output_uri"], str(local))
    assert probe_video(str(local)).n_frames == ok["n_output_frames"] > 0
    # Nothing but the finished output and the run records under the output root.
    outputs = [path for path in fs.find("lipdub/dubbed") if "/_lipdub/" not in path]
    assert outputs == ["lipdub/dubbed/de/clip-de.mp4"]
    assert fs.find("lipdub/work"), "the work store on S3 holds the cached analysis"

    # The rerun finds the finished item through the run records on S3 and skips it.
    code, again, stderr = _run_job(s3_server, *args)
    assert again["skipped"] == 1 and again["ok"] == 0, stderr[-3000:]
    assert again["plan_reasons"] == {"unchanged": 1, "bad_row": 1}
