"""Ctrl-C in the middle of a catalog run: what finished is recorded, nothing partial is left at an
output path, and the rerun does only what was left."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lipdub.catalog import write_catalog
from lipdub.media.audio_io import load_audio, write_wav
from lipdub.media.probe import probe_video
from lipdub.results import read_results

ROOT = Path(__file__).resolve().parents[2]
DUB_RATE = 16_000


def _job(catalog: Path, folder: Path) -> subprocess.Popen:
    args = ["--catalog", str(catalog), "--output-root", str(folder / "out"), "--work-root", str(folder / "work")]
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled", PYTHONUNBUFFERED="1")
    # Ctrl-C must reach the job even when the tests run in the background: a shell starts
    # background commands with SIGINT ignored, children inherit that, and Python then installs
    # no KeyboardInterrupt handler (two CI runs launched so saw the job run to the end).
    return subprocess.Popen([sys.executable, "-m", "jobs.dub_catalog", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.long
def test_interrupted_run_records_what_finished_and_the_rerun_does_the_rest(tmp_path, demo_inputs):
    source, dub = demo_inputs
    items = [f"clip-{n}" for n in range(3)]
    # The first item is short, the others six times longer: when the first result arrives the
    # others are surely still rendering, so the interrupt always lands mid-run.
    samples = load_audio(str(dub), sample_rate=DUB_RATE)
    shutil.copy(dub, tmp_path / f"{items[0]}.wav")
    for item in items[1:]:
        write_wav(str(tmp_path / f"{item}.wav"), np.tile(samples, 6), DUB_RATE)
    catalog = tmp_path / "catalog.parquet"
    write_catalog(
        [{"item_id": item, "video_uri": str(source), "audio_uri": str(tmp_path / f"{item}.wav"), "language": "de"} for item in items], str(catalog)
    )

    job = _job(catalog, tmp_path)
    deadline = time.monotonic() + 300
    seen = ""
    while "[1/3]" not in seen and time.monotonic() < deadline:  # the first item's result line
        line = job.stderr.readline()
        if not line and job.poll() is not None:
            break
        seen += line
    assert "[1/3]" in seen, seen[-3000:]
    job.send_signal(signal.SIGINT)
    _, rest = job.communicate(timeout=120)
    assert job.returncode != 0  # interrupted, not a clean finish

    (run,) = (tmp_path / "out" / "_lipdub" / "runs").iterdir()
    first = {row["item_id"]: row for row in read_results(str(run))}
    assert sorted(first) == items  # every item has a row, also after Ctrl-C
    done = sorted(item for item, row in first.items() if row["status"] == "ok")
    left = sorted(item for item, row in first.items() if row["status"] == "pending")
    assert done and left and sorted(done + left) == items, {k: v["status"] for k, v in first.items()}
    # At the output paths: only complete videos (some may have finished after the last recorded
    # result, just before the interrupt), never a temporary or partial file.
    present = sorted(p.name.removesuffix(".mp4") for p in (tmp_path / "out" / "de").iterdir())
    assert set(done) <= set(present) <= set(items), present
    finished_at = {}
    for item in present:
        path = tmp_path / "out" / "de" / f"{item}.mp4"
        assert probe_video(str(path)).n_frames > 0
        finished_at[item] = path.stat().st_mtime_ns

    rerun = _job(catalog, tmp_path)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-3000:]
    summary = json.loads(out[out.find("{"):])
    # Finished items (recorded, or recognised by the fingerprint tag in the output) are not redone.
    assert summary["skipped"] == len(present) and summary["ok"] == len(items) - len(present), summary
    assert summary["plan_reasons"].get("unchanged", 0) == len(done)
    for item, mtime in finished_at.items():
        assert (tmp_path / "out" / "de" / f"{item}.mp4").stat().st_mtime_ns == mtime
    for item in items:
        assert probe_video(str(tmp_path / "out" / "de" / f"{item}.mp4")).n_frames > 0
