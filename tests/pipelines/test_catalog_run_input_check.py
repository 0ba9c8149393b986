"""Bad input in a catalog run fails its item in the driver, before Ray starts (pipelines/input_check.py),
with the words the pipeline's probe stage gives; a run with no good item never starts Ray."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from jobs.cli import app
from lipdub.config import PipelineConfig
from lipdub.item_row import empty_row
from lipdub.results import read_results
from operators.probe import ProbeOperator
from pipelines.catalog_run import LATEST_FILE, run_catalog
from pipelines.input_check import check_inputs

ROOT = Path(__file__).resolve().parents[2]
BAD = {"text-as-video": ("notes.mp4", "dub.wav"), "picture-as-dub": ("source.mp4", "picture.wav")}


def _bad_folder(folder: Path, source: Path, dub: Path) -> Path:
    """The demo's source and dub, a text file named .mp4 and a PNG picture named .wav."""
    shutil.copy(source, folder / "source.mp4")
    shutil.copy(dub, folder / "dub.wav")
    (folder / "notes.mp4").write_text("shot list: take 3 is the good one\n")
    ok, png = cv2.imencode(".png", np.full((16, 16, 3), 200, np.uint8))
    assert ok
    (folder / "picture.wav").write_bytes(png.tobytes())
    return folder


def _write_catalog(path: Path, items: dict[str, tuple[str, str]]) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "video_uri", "audio_uri", "language"])
        writer.writerows([item, video, dub, "de"] for item, (video, dub) in items.items())
    return str(path)


def _probe_stage_error(folder: Path, video: str, dub: str) -> str:
    """What the pipeline's probe stage says about these inputs (the operator itself, no Ray)."""
    row = empty_row(item_id="x", video_uri=str(folder / video), audio_uri=str(folder / dub), output_uri=str(folder / "x.mp4"))
    (out,) = ProbeOperator(PipelineConfig()).run_row(row)
    assert out["status"] == "failed" and out["failed_stage"] == "probe"
    return out["error"]


@pytest.fixture
def bad_folder(tmp_path, demo_inputs) -> Path:
    return _bad_folder(tmp_path, *map(Path, demo_inputs))


@pytest.mark.slow
def test_bad_items_fail_with_the_probe_stages_words_and_the_good_one_is_dubbed(bad_folder, ray_local):
    catalog = _write_catalog(bad_folder / "catalog.csv", {"good": ("source.mp4", "dub.wav"), **BAD})
    summary = run_catalog(catalog, output_root=str(bad_folder / "out"), config=PipelineConfig(work_root=str(bad_folder / "work")))

    rows = {row["item_id"]: row for row in read_results(summary.results_uri)}
    assert rows["good"]["status"] == "ok", rows["good"]["error"]
    for item, (video, dub) in BAD.items():
        assert rows[item]["status"] == "failed" and rows[item]["failed_stage"] == "probe"
        assert rows[item]["error"] == _probe_stage_error(bad_folder, video, dub)
        assert not Path(rows[item]["output_uri"]).exists()
    assert "has no audio stream" in rows["picture-as-dub"]["error"] and "notes.mp4" in rows["text-as-video"]["error"]
    assert (summary.ok, summary.failed, summary.pending) == (1, 2, 0)


# Run in a fresh process: an earlier test of the session may have started Ray in this one.
_ALL_BAD_RUN = """
import json, sys, time
import ray
from lipdub.config import PipelineConfig
from pipelines.catalog_run import run_catalog
started = time.perf_counter()
summary = run_catalog(sys.argv[1], output_root=sys.argv[2], config=PipelineConfig(work_root=sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - started, "ray_started": ray.is_initialized(),
                  "results_uri": summary.results_uri, "failed": summary.failed, "pending": summary.pending}))
"""


def test_a_run_whose_items_are_all_bad_never_starts_ray(bad_folder):
    catalog = _write_catalog(bad_folder / "catalog.csv", BAD)
    out = bad_folder / "out"
    done = subprocess.run([sys.executable, "-c", _ALL_BAD_RUN, catalog, str(out), str(bad_folder / "work")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ray_started"] is False
    assert report["seconds"] < 5, report  # Ray's start alone takes 4-6 s here
    assert (report["failed"], report["pending"]) == (2, 0)
    # The run's records as always: results manifest, summary, latest pointer.
    rows = {row["item_id"]: row for row in read_results(report["results_uri"])}
    assert {item: row["error"] for item, row in rows.items()} == {item: _probe_stage_error(bad_folder, *BAD[item]) for item in BAD}
    assert (Path(report["results_uri"]).parent / "summary.json").exists()
    assert json.loads((out / "_lipdub" / LATEST_FILE).read_text())["results_uri"] == report["results_uri"]


def test_lipdub_run_on_an_all_bad_catalog_exits_3_at_once(bad_folder):
    catalog = _write_catalog(bad_folder / "catalog.csv", BAD)
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["run", catalog, "--output-root", str(bad_folder / "out"), "--work-root", str(bad_folder / "work")])
    seconds = time.perf_counter() - started
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout[result.stdout.find("{"):])
    assert (summary["failed"], summary["ok"], summary["failures_by_stage"]) == (2, 0, {"probe": 2})
    assert seconds < 5


def test_the_check_keeps_the_items_order_and_passes_good_rows_on_unchanged(bad_folder):
    names = [("source.mp4", "dub.wav"), *BAD.values()] * 4
    rows = [empty_row(item_id=f"item-{index:02d}", video_uri=str(bad_folder / video), audio_uri=str(bad_folder / dub),
                      output_uri=str(bad_folder / f"{index}.mp4")) for index, (video, dub) in enumerate(names)]
    checked = check_inputs(rows, PipelineConfig(), threads=8)
    assert checked.passed == rows[0::3]  # the very rows given, not the probed ones
    assert [row["item_id"] for row in checked.failed] == [row["item_id"] for index, row in enumerate(rows) if index % 3]
    assert all(row["status"] == "failed" and row["failed_stage"] == "probe" for row in checked.failed)


def test_items_with_remote_inputs_are_left_to_the_pipelines_probe(bad_folder):
    """Probing a remote input means downloading all of it: the driver checks local files only."""
    local_bad = empty_row(item_id="local-bad", video_uri=str(bad_folder / BAD["text-as-video"][0]), audio_uri=str(bad_folder / "dub.wav"),
                          output_uri=str(bad_folder / "a.mp4"))
    remote = empty_row(item_id="remote", video_uri="s3://bucket/never-fetched.mp4", audio_uri=str(bad_folder / "dub.wav"),
                       output_uri=str(bad_folder / "b.mp4"))
    checked = check_inputs([remote, local_bad], PipelineConfig())
    assert checked.passed == [remote]
    assert [row["item_id"] for row in checked.failed] == ["local-bad"]
    assert check_inputs([remote], PipelineConfig()).passed == [remote]
